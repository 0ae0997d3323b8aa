"""Snakemake script for the critical-difference diagram (average ranks over tasks within each backbone, Nemenyi
CD).

input:  summary (results/tables/summary.csv; the only input if unnamed)
output: png, pdf
params: metric (default "mae"), alpha (default 0.05), task_order, method_order, backbone_order (optional lists),
        method_entries, ablations (optional: the config's ``methods:`` mapping and ``ablations`` key: ablation
        entries are never ranked), method_set (optional, "paper" (default) or "all")
log:    one file.
"""
import logging

import matplotlib.pyplot as plt
import pandas as pd

from extrapbench.jobs.rule import run_rule
from extrapbench.report.method_sets import method_sets
from extrapbench.report.cd_diagram import plot_critical_difference


def main(snakemake):
    summary = pd.read_csv(getattr(snakemake.input, "summary", None) or snakemake.input[0])
    method_order = getattr(snakemake.params, "method_order", None)
    sets = method_sets(summary["method"].unique(), getattr(snakemake.params, "method_entries", None),
                       getattr(snakemake.params, "ablations", None), method_order)
    which = getattr(snakemake.params, "method_set", None) or "paper"
    ranked = sets.select(which) if (which == "all" or sets.paper) else sets.all_methods
    figure = plot_critical_difference(summary, snakemake.output.png, snakemake.output.pdf,
                                      metric=getattr(snakemake.params, "metric", None) or "mae",
                                      alpha=float(getattr(snakemake.params, "alpha", None) or 0.05),
                                      task_order=getattr(snakemake.params, "task_order", None),
                                      method_order=method_order,
                                      backbone_order=getattr(snakemake.params, "backbone_order", None),
                                      methods=ranked)
    plt.close(figure)
    logging.info("ranked %s within each backbone", ranked)


run_rule(main, snakemake)  # noqa: F821
