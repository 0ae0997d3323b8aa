"""Rules table_provenance and table_provenance_other_split_tasks: one row per run with where it came from
(results/tables/provenance.csv, results/tables/other_split_tasks/provenance.csv), by
extrapbench.jobs.provenance_table.provenance_table."""
from extrapbench.jobs.provenance_table import provenance_table
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    provenance_table(list(snakemake.input.provenance), snakemake.output.csv)


run_rule(main, snakemake)  # noqa: F821
