"""Rule split_task: one task's split -> results/splits/{task}.json (+ .csv with every member's target), by
extrapbench.jobs.split.split_task."""
from extrapbench.jobs.rule import run_rule
from extrapbench.jobs.split import split_task


def main(snakemake):
    split_task(snakemake.params.task, snakemake.input.dataset, snakemake.output.table, snakemake.output.summary,
               sizes_like=getattr(snakemake.input, "sizes_like", None),
               split_ties=getattr(snakemake.params, "split_ties", None),
               # read from the config, not a param: the check changes no split, so it must not re-run one
               min_part_size=(getattr(snakemake, "config", None) or {}).get("min_part_size"))


run_rule(main, snakemake)  # noqa: F821
