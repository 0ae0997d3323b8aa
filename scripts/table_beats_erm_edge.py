"""Rule table_beats_erm_edge: every method's and the edge reference's metrics.json ->
results/tables/beats_erm_edge.{md,tex,csv} (extrapbench.report.beats_table.beats_table)."""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.report.beats_table import beats_table
from extrapbench.report.summary import collect


def main(snakemake):
    runs = collect(list(snakemake.input.metrics))
    table = beats_table(runs, methods=list(snakemake.params.methods), task_order=snakemake.params.task_order,
                        std_ddof=int(snakemake.params.std_ddof))
    table.write(snakemake.output.md, snakemake.output.tex, snakemake.output.csv)
    logging.info("wrote the beats-ERM / beats-edge table (%d rows)", len(table.cells))


run_rule(main, snakemake)  # noqa: F821
