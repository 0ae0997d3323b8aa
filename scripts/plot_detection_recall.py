"""Snakemake script for Fig. 5: recall of extrapolative-sample detection per task and method.

input:  summary (results/tables/summary.csv; the only input if unnamed)
output: png, pdf
params: task_order, method_order, backbone_order (optional lists)
log:    one file.
"""
import matplotlib.pyplot as plt

from extrapbench.jobs.rule import run_rule
from extrapbench.report.figures import plot_detection_recall


def main(snakemake):
    summary = getattr(snakemake.input, "summary", None) or snakemake.input[0]
    figure = plot_detection_recall(summary, snakemake.output.png, snakemake.output.pdf,
                                   task_order=getattr(snakemake.params, "task_order", None),
                                   method_order=getattr(snakemake.params, "method_order", None),
                                   backbone_order=getattr(snakemake.params, "backbone_order", None))
    plt.close(figure)


run_rule(main, snakemake)  # noqa: F821
