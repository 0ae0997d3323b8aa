"""Rule table_extrapolation_penalty: the range tasks' and their random twins' metrics.json ->
results/tables/extrapolation_penalty.{md,tex,csv} (extrapbench.report.references.penalty_table)."""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.report.references import penalty_table
from extrapbench.report.summary import collect


def main(snakemake):
    runs = collect(list(snakemake.input.metrics))
    table = penalty_table(runs, dict(snakemake.params.twins), methods=list(snakemake.params.methods),
                          task_order=snakemake.params.task_order, std_ddof=int(snakemake.params.std_ddof))
    table.write(snakemake.output.md, snakemake.output.tex, snakemake.output.csv)
    logging.info("wrote the extrapolation penalty table (%d rows)", len(table.cells))


run_rule(main, snakemake)  # noqa: F821
