"""Snakemake script for Fig. 4: parity plots of one task, a panel per (backbone, method).

input:  predictions (list of results/runs/{task}/{backbone}/{method}/seed{seed}/predictions.csv) and split
        (results/splits/{task}.json); unnamed inputs are told apart by suffix
output: png, pdf
params: seed (optional; default the lowest seed present), method_order, backbone_order (optional lists)
log:    one file.
"""
import logging

import matplotlib.pyplot as plt

from extrapbench.jobs.rule import run_rule
from extrapbench.report.figures import plot_parity


def main(snakemake):
    predictions = getattr(snakemake.input, "predictions", None)
    split = getattr(snakemake.input, "split", None)
    if predictions is None or split is None:
        paths = [str(path) for path in snakemake.input]
        predictions = [path for path in paths if path.endswith(".csv")]
        split = next(path for path in paths if path.endswith(".json"))
    if isinstance(predictions, str):
        predictions = [predictions]
    figure = plot_parity(list(predictions), split, snakemake.output.png, snakemake.output.pdf,
                         seed=getattr(snakemake.params, "seed", None),
                         method_order=getattr(snakemake.params, "method_order", None),
                         backbone_order=getattr(snakemake.params, "backbone_order", None))
    plt.close(figure)
    logging.info("plotted %d prediction files", len(predictions))


run_rule(main, snakemake)  # noqa: F821
