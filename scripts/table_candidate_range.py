"""Snakemake script for the MEX candidate-range ablation table.

input:  summary (results/tables/summary.csv), provenance (list of the runs' provenance.json; non-MEX runs are
        ignored) and, optionally, splits (list of results/splits/{task}.json, to show the test label range) and
        predictions (list of the MEX runs' predictions.csv, for the share of test labels outside [l, u])
output: md, tex, csv
params: task_order, backbone_order (optional lists)
log:    one file.
"""
import logging

import pandas as pd

from extrapbench.jobs.rule import run_rule
from extrapbench.report.candidate_range import candidate_range_table


def main(snakemake):
    provenance = snakemake.input.provenance
    provenance = [provenance] if isinstance(provenance, str) else list(provenance)
    splits = getattr(snakemake.input, "splits", None)
    splits = [splits] if isinstance(splits, str) else list(splits or [])
    predictions = getattr(snakemake.input, "predictions", None)
    predictions = [predictions] if isinstance(predictions, str) else list(predictions or [])
    table = candidate_range_table(pd.read_csv(snakemake.input.summary), provenance, split_json_paths=splits,
                                  task_order=getattr(snakemake.params, "task_order", None),
                                  backbone_order=getattr(snakemake.params, "backbone_order", None),
                                  predictions_paths=predictions)
    table.write(markdown_path=snakemake.output.md, latex_path=snakemake.output.tex, csv_path=snakemake.output.csv)
    kinds = sorted(table.frame["candidate_range"].dropna().unique())
    logging.info("wrote the candidate-range table (%d rows; range kinds: %s)", len(table.frame), kinds)


run_rule(main, snakemake)  # noqa: F821
