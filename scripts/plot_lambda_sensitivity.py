"""Snakemake script for Fig. 6: MEX's sensitivity to λ (lambda_abs) over the model-selection grid points.

input:  selected (list of results/selection/{task}/{backbone}/{method}/selected.json of the MEX entries),
        points (list of results/selection/{task}/{backbone}/{method}/grid_metrics.json: every grid point's
        metrics, written by select_hyperparameters; may be empty) and summary (results/tables/summary.csv)
output: png, pdf
params: lambda_key (default "lambda_abs"), reference (default "erm"), task_order, backbone_order (optional)
log:    one file.
"""
import logging

import matplotlib.pyplot as plt

from extrapbench.report.paper_outputs import plot_lambda_sensitivity


def _paths(value):
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(path) for path in value]


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        selected = _paths(getattr(smk.input, "selected", None))
        points = _paths(getattr(smk.input, "points", None))
        figure = plot_lambda_sensitivity(selected, points, smk.input.summary, smk.output.png, smk.output.pdf,
                                         lambda_key=getattr(smk.params, "lambda_key", None) or "lambda_abs",
                                         reference=getattr(smk.params, "reference", None) or "erm",
                                         task_order=getattr(smk.params, "task_order", None),
                                         backbone_order=getattr(smk.params, "backbone_order", None))
        plt.close(figure)
        logging.info("plotted %d selections from %d grid points", len(selected), len(points))
    except Exception:
        logging.exception("plotting the λ sensitivity failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
