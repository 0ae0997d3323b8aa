# evaluate_runs reads a method's predictions files and writes one JSON per run (no torch): it runs where Snakemake
# runs, never as a cluster job (a submission per run would cost more than the work)
localrules:
    evaluate_runs,


rule evaluate_runs:
    """The metrics (test MAE, GM, Spearman, R², detection, seconds per sample) of every seed of one (task,
    backbone, method): one job, not one per seed, as each costs its interpreter's start-up more than its work.
    The grid points are evaluated by select_hyperparameters (grid_metrics.json). A reference predictor's runs are
    read from results/references/ (the same for every backbone) and evaluated as this backbone's."""
    input:
        unpack(evaluate_inputs),  # a reference predictor's predictions are shared by every backbone
    output:
        metrics=expand(f"{RUN_DIR}/metrics.json", seed=SEEDS, allow_missing=True),
    log:
        "results/logs/evaluate/{task}/{backbone}/{method}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/evaluate_runs.py"
