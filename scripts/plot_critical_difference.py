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

from extrapbench.report.method_sets import method_sets
from extrapbench.report.statistics import plot_critical_difference


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        summary = pd.read_csv(getattr(smk.input, "summary", None) or smk.input[0])
        method_order = getattr(smk.params, "method_order", None)
        sets = method_sets(summary["method"].unique(), getattr(smk.params, "method_entries", None),
                           getattr(smk.params, "ablations", None), method_order)
        which = getattr(smk.params, "method_set", None) or "paper"
        ranked = sets.select(which) if (which == "all" or sets.paper) else sets.all_methods
        figure = plot_critical_difference(summary, smk.output.png, smk.output.pdf,
                                          metric=getattr(smk.params, "metric", None) or "mae",
                                          alpha=float(getattr(smk.params, "alpha", None) or 0.05),
                                          task_order=getattr(smk.params, "task_order", None),
                                          method_order=method_order,
                                          backbone_order=getattr(smk.params, "backbone_order", None),
                                          methods=ranked)
        plt.close(figure)
        logging.info("ranked %s within each backbone", ranked)
    except Exception:
        logging.exception("plotting the critical-difference diagram failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
