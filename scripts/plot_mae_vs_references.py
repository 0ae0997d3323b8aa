"""Rule plot_mae_vs_references: summary.csv + summary_references.csv -> one task's figure
(extrapbench.report.reference_figures)."""
import matplotlib.pyplot as plt

from extrapbench.jobs.rule import run_rule
from extrapbench.report.reference_figures import plot_mae_vs_references


def main(snakemake):
    figure = plot_mae_vs_references(snakemake.input.summary, snakemake.input.references, snakemake.wildcards.task,
                                    snakemake.output.png, snakemake.output.pdf,
                                    method_order=snakemake.params.method_order)
    plt.close(figure)


run_rule(main, snakemake)  # noqa: F821
