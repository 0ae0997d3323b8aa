"""Snakemake script for Table 1: per task, sample counts and train/val/test label ranges.

input:  splits (list of results/splits/{task}.json); unnamed inputs: every .json among them
output: md, tex, csv
params: task_order (optional list), title (optional)
log:    one file.
"""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.report.split_table import split_table


def main(snakemake):
    splits = getattr(snakemake.input, "splits", None)
    if splits is None:
        splits = [str(path) for path in snakemake.input if str(path).endswith(".json")]
    if isinstance(splits, str):
        splits = [splits]
    title = getattr(snakemake.params, "title", None)
    table = split_table(list(splits), task_order=getattr(snakemake.params, "task_order", None),
                        **({"title": title} if title else {}))
    table.write(markdown_path=snakemake.output.md, latex_path=snakemake.output.tex, csv_path=snakemake.output.csv)
    logging.info("wrote Table 1 (%d tasks)", len(table.frame))


run_rule(main, snakemake)  # noqa: F821
