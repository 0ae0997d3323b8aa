"""Rule download_dataset: matminer load_dataset (or paper B's HOIP / MPS) -> results/datasets/{dataset}.json.gz

The table is validated where it is loaded (extrapbench.data.validate_dataset_table: non-finite targets, duplicated
materials, unreadable structures stop the job, and nothing is written)."""
from extrapbench.data.datasets import load_dataset_table, write_dataset_table
from extrapbench.files import write_atomic
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    name = snakemake.wildcards.dataset
    frame = load_dataset_table(name, snakemake.params.data_home, snakemake.params.ane_data_home)
    print(f"{name}: {len(frame)} rows, columns {list(frame.columns)}")
    write_atomic(lambda p: write_dataset_table(frame, p), snakemake.output[0])


run_rule(main, snakemake)  # noqa: F821
