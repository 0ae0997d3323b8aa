"""Snakemake script for the running-time table: inference seconds per test sample per method and backbone.

input:  summary (results/tables/summary.csv; the only input if unnamed)
output: md, tex, csv
params: reference (optional, default "erm"), method_order, backbone_order (optional lists), std_ddof
        (optional, 0 or 1; default: the summary's, else 1; config key std_ddof)
log:    one file.
"""
import logging

import pandas as pd

from extrapbench.jobs.rule import run_rule
from extrapbench.report.running_time import running_time_table


def main(snakemake):
    summary = getattr(snakemake.input, "summary", None) or snakemake.input[0]
    table = running_time_table(pd.read_csv(summary), reference=getattr(snakemake.params, "reference", None) or "erm",
                               method_order=getattr(snakemake.params, "method_order", None),
                               backbone_order=getattr(snakemake.params, "backbone_order", None),
                               std_ddof=getattr(snakemake.params, "std_ddof", None))
    table.write(markdown_path=snakemake.output.md, latex_path=snakemake.output.tex, csv_path=snakemake.output.csv)
    logging.info("wrote the running-time table (%d method × backbone cells)", len(table.frame))


run_rule(main, snakemake)  # noqa: F821
