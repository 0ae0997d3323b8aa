"""Rule plot_mae_vs_references: summary.csv + summary_references.csv -> one task's figure
(extrapbench.report.reference_figures)."""
import logging

import matplotlib.pyplot as plt

from extrapbench.report.reference_figures import plot_mae_vs_references


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        figure = plot_mae_vs_references(smk.input.summary, smk.input.references, smk.wildcards.task,
                                        smk.output.png, smk.output.pdf, method_order=smk.params.method_order)
        plt.close(figure)
    except Exception:
        logging.exception("plotting MAE against the references failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
