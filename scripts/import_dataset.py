"""Rule import_dataset: one of the config's own datasets (extrapbench.data.own) -> results/datasets/own/{dataset}.json.gz

The config check has read the file before any job; it is read again here, with the same checks (anything wrong
stops the job, and nothing is written)."""
from extrapbench.data.datasets import write_dataset_table
from extrapbench.data.own import describe, load_own_dataset
from extrapbench.files import write_atomic
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    name, entry = snakemake.wildcards.dataset, dict(snakemake.params.entry)
    table = load_own_dataset(name, entry)
    print(f"{name} ({describe(entry)}): {len(table)} rows, columns {list(table.columns)}")
    write_atomic(lambda p: write_dataset_table(table, p), snakemake.output[0])


run_rule(main, snakemake)  # noqa: F821
