"""Snakemake script for Fig. 3: label distribution of every task with the split cuts.

input:  the split tables results/splits/{task}.csv and summaries results/splits/{task}.json, named or not
        (files are told apart by their suffix and paired by stem); report_stamp (the stamp, not a split)
output: png, pdf
params: task_order (optional list)
log:    one file.
"""
import logging

import matplotlib.pyplot as plt

from extrapbench.jobs.rule import run_rule
from extrapbench.report.figures import plot_label_distributions


def main(snakemake):
    stamp = str(getattr(snakemake.input, "report_stamp", None))  # the tables' stamp (a .json), not a split
    paths = [str(path) for path in snakemake.input if str(path) != stamp]
    csv_paths = [path for path in paths if path.endswith(".csv")]
    json_paths = [path for path in paths if path.endswith(".json")]
    figure = plot_label_distributions(csv_paths, json_paths, snakemake.output.png, snakemake.output.pdf,
                                      task_order=getattr(snakemake.params, "task_order", None))
    plt.close(figure)
    logging.info("plotted %d tasks", len(json_paths))


run_rule(main, snakemake)  # noqa: F821
