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

from extrapbench.jobs.rule import run_rule
from extrapbench.report.lambda_figure import plot_lambda_sensitivity


def _paths(value):
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(path) for path in value]


def main(snakemake):
    selected = _paths(getattr(snakemake.input, "selected", None))
    points = _paths(getattr(snakemake.input, "points", None))
    figure = plot_lambda_sensitivity(selected, points, snakemake.input.summary, snakemake.output.png,
                                     snakemake.output.pdf,
                                     lambda_key=getattr(snakemake.params, "lambda_key", None) or "lambda_abs",
                                     reference=getattr(snakemake.params, "reference", None) or "erm",
                                     task_order=getattr(snakemake.params, "task_order", None),
                                     backbone_order=getattr(snakemake.params, "backbone_order", None))
    plt.close(figure)
    logging.info("plotted %d selections from %d grid points", len(selected), len(points))


run_rule(main, snakemake)  # noqa: F821
