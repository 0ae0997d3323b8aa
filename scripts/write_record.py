"""Rule record: every final run's metrics.json, predictions.csv and provenance.json, and the splits ->
results/record.json.gz (extrapbench.records.workflow.write_workflow_record), the record `extrapbench compare` reads.

input:  report_stamp; metrics, predictions, provenance (one file each per run, in the same order: trained runs and
        reference predictors); splits, split_tables (results/splits/{task}.json and .csv, in params.tasks' order)
output: record (results/record.json.gz)
params: tasks, references (the config's reference predictors, name -> params), dataset_digests (task -> digest),
        config_files, config_digest
log:    one file.
"""
import logging
from pathlib import Path

from extrapbench.jobs.rule import run_rule
from extrapbench.records.workflow import write_workflow_record


def main(snakemake):
    tasks = list(snakemake.params.tasks)
    splits = dict(zip(tasks, zip(snakemake.input.splits, snakemake.input.split_tables)))
    runs = list(zip(snakemake.input.metrics, snakemake.input.predictions, snakemake.input.provenance))
    config_files = list(snakemake.params.config_files)
    path = write_workflow_record(
        snakemake.output.record, runs, splits, config=snakemake.config, references=dict(snakemake.params.references),
        name=Path(config_files[0]).name.split(".")[0] if config_files else "workflow",
        config_source=", ".join(config_files), dataset_digests=dict(snakemake.params.dataset_digests))
    logging.info("wrote %s: %d runs of %d tasks (config digest %s)", path, len(runs), len(tasks),
                 snakemake.params.config_digest)


run_rule(main, snakemake)  # noqa: F821
