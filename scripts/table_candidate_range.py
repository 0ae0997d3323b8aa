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

from extrapbench.report.paper_outputs import candidate_range_table


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        provenance = smk.input.provenance
        provenance = [provenance] if isinstance(provenance, str) else list(provenance)
        splits = getattr(smk.input, "splits", None)
        splits = [splits] if isinstance(splits, str) else list(splits or [])
        predictions = getattr(smk.input, "predictions", None)
        predictions = [predictions] if isinstance(predictions, str) else list(predictions or [])
        table = candidate_range_table(pd.read_csv(smk.input.summary), provenance, split_json_paths=splits,
                                      task_order=getattr(smk.params, "task_order", None),
                                      backbone_order=getattr(smk.params, "backbone_order", None),
                                      predictions_paths=predictions)
        table.write(markdown_path=smk.output.md, latex_path=smk.output.tex, csv_path=smk.output.csv)
        kinds = sorted(table.frame["candidate_range"].dropna().unique())
        logging.info("wrote the candidate-range table (%d rows; range kinds: %s)", len(table.frame), kinds)
    except Exception:
        logging.exception("building the candidate-range table failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
