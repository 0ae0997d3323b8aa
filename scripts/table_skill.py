"""Rule table_skill: every method's and reference's metrics.json -> results/tables/skill.{md,tex,csv}
(extrapbench.report.references.skill_table); with config ``records`` (inputs records, splits, split_tables; param
records_other_split) their model entries as external rows, in a block of their own beside copies of the reference
rows (extrapbench.records.workflow)."""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.records.workflow import job_external_rows
from extrapbench.report.references import skill_table
from extrapbench.report.summary import collect


def main(snakemake):
    runs = collect(list(snakemake.input.metrics))
    references = list(snakemake.params.references)
    external = job_external_rows(snakemake, runs, references)
    table = skill_table(external.with_runs(runs), methods=[*snakemake.params.methods, *external.methods],
                        references=references, task_order=snakemake.params.task_order,
                        backbone_order=external.backbone_order(runs), std_ddof=int(snakemake.params.std_ddof))
    external.mark_roles(table.frame)
    table.notes.extend(external.notes)
    table.write(snakemake.output.md, snakemake.output.tex, snakemake.output.csv)
    logging.info("wrote the skill table (%d rows)", len(table.cells))


run_rule(main, snakemake)  # noqa: F821
