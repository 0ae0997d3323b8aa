# A split reads one table and writes two small files: it runs where Snakemake runs (a cluster's login node), not
# as a cluster job.
localrules:
    split_task,


rule split_task:
    """The task's split rule (docs/benchmark.md) -> part sizes, label ranges and member ids."""
    input:
        unpack(split_inputs),
    output:
        summary="results/splits/{task}.json",
        table="results/splits/{task}.csv",
    log:
        "results/logs/split_task/{task}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        task=lambda wildcards: TASKS[wildcards.task],
        # a changed tie rule re-runs the split (Snakemake's params trigger) and everything downstream
        split_ties=config["split_ties"],
    script:
        "../../scripts/split_task.py"
