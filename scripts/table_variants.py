"""Snakemake script for Table 4: MEX score-module variants (mlp, mlp+cos, cos), test MAE and GM.

input:  summary (results/tables/summary.csv), provenance (list of the runs' provenance.json; only runs whose
        registered method is MEX are used, so passing every run's file is fine) and, optionally, metrics (the
        MEX entries' metrics.json: for Δ and the paired t-test's p against the default score module)
output: md, tex, csv (both metrics in each: a section / tabular per metric; the CSV has a `metric` column)
params: metrics (optional list, default ["mae", "gm"]), task_order, backbone_order (optional lists),
        std_ddof (optional, 0 or 1; default: the summary's, else 1; config key std_ddof)
log:    one file.
"""
import logging

import pandas as pd

from extrapbench.jobs.rule import run_rule
from extrapbench.report.summary import collect
from extrapbench.report.variants import variant_tables


def main(snakemake):
    provenance = snakemake.input.provenance
    if isinstance(provenance, str):
        provenance = [provenance]
    metrics = getattr(snakemake.input, "metrics", None)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics or [])
    tables = variant_tables(pd.read_csv(snakemake.input.summary), list(provenance),
                            metrics=getattr(snakemake.params, "metrics", None) or ("mae", "gm"),
                            task_order=getattr(snakemake.params, "task_order", None),
                            backbone_order=getattr(snakemake.params, "backbone_order", None),
                            std_ddof=getattr(snakemake.params, "std_ddof", None),
                            runs=collect(metrics) if metrics else None)
    tables.write(markdown_path=snakemake.output.md, latex_path=snakemake.output.tex, csv_path=snakemake.output.csv)
    logging.info("wrote Table 4 (%d MEX entries: %s)", len(tables.entries), ", ".join(tables.entries["label"]))


run_rule(main, snakemake)  # noqa: F821
