"""Rule table_skill: every method's and reference's metrics.json -> results/tables/skill.{md,tex,csv}
(extrapbench.report.references.skill_table)."""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.report.references import skill_table
from extrapbench.report.summary import collect


def main(snakemake):
    runs = collect(list(snakemake.input.metrics))
    table = skill_table(runs, methods=list(snakemake.params.methods), references=list(snakemake.params.references),
                        task_order=snakemake.params.task_order, std_ddof=int(snakemake.params.std_ddof))
    table.write(snakemake.output.md, snakemake.output.tex, snakemake.output.csv)
    logging.info("wrote the skill table (%d rows)", len(table.cells))


run_rule(main, snakemake)  # noqa: F821
