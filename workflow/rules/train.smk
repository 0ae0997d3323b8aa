# select_hyperparameters only reads a few CSV files: it runs where Snakemake runs, never as a cluster job
localrules:
    select_hyperparameters,


rule train:
    """One (method, backbone, task, seed) run: the training protocol of docs/benchmark.md, best-val checkpoint, val/test predictions.
    With a selection grid for the method, it trains the selected grid point's hyper-parameters.
    Runtime and memory come from config `resources.per_backbone`; a failed attempt is retried with the runtime
    scaled by the attempt, and it resumes from the run's per-epoch checkpoint. Not with `resources.seeds_in_one_job`
    (train_seeds trains the runs then)."""
    input:
        unpack(final_train_inputs),
    output:
        predictions=f"{RUN_DIR}/predictions.csv",
        history=f"{RUN_DIR}/history.csv",
        checkpoint=f"{RUN_DIR}/model.pt",
        provenance=f"{RUN_DIR}/provenance.json",
    log:
        RUN_DIR.replace("results/runs", "results/logs/train") + ".log",
    wildcard_constraints:
        seed=NO_MATCH if SEEDS_IN_ONE_JOB else SEED_PATTERN,
        method=TRAINED_METHOD_PATTERN,
    retries: RESOURCES["retries"]
    conda:
        "../../envs/torch.yaml"
    threads: RESOURCES["train_threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=gpu_count,
        attempt=lambda wildcards, attempt: attempt,  # extrapbench/jobs/train.py: a retry after a deterministic error stops
    params:
        run=final_run_params,  # one callable, not five: Snakemake inspects each callable of each job it plans
        predict_train=True,
    script:
        "../../scripts/train.py"


rule train_seeds:
    """With `resources.seeds_in_one_job`: every seed of one (method, backbone, task), trained in turn in one job (one
    interpreter start-up instead of one per seed), each into its own run folder and log exactly as train writes them.
    Runtime: the backbone's per run, times the seeds, times the attempt. A rerun of a killed job restores the seeds
    it finished (from their resume checkpoints, kept until the whole job is done) and resumes the one it was
    training."""
    input:
        unpack(final_train_inputs),
    output:
        predictions=expand(f"{RUN_DIR}/predictions.csv", seed=SEEDS, allow_missing=True),
        history=expand(f"{RUN_DIR}/history.csv", seed=SEEDS, allow_missing=True),
        checkpoint=expand(f"{RUN_DIR}/model.pt", seed=SEEDS, allow_missing=True),
        provenance=expand(f"{RUN_DIR}/provenance.json", seed=SEEDS, allow_missing=True),
    log:
        expand(RUN_DIR.replace("results/runs", "results/logs/train") + ".log", seed=SEEDS, allow_missing=True),
    wildcard_constraints:
        method=TRAINED_METHOD_PATTERN if SEEDS_IN_ONE_JOB else NO_MATCH,
    retries: RESOURCES["retries"]
    conda:
        "../../envs/torch.yaml"
    threads: RESOURCES["train_threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=gpu_count,
        attempt=lambda wildcards, attempt: attempt,  # extrapbench/jobs/train.py: a retry after a deterministic error stops
    params:
        run=seeds_run_params,
        predict_train=True,
    script:
        "../../scripts/train.py"


rule train_grid_point:
    """The selection grid points of one job (`resources.per_backbone.<backbone>.grid_points_per_job` of them, in
    turn), each trained on the selection seed: val/test predictions and provenance per point, no checkpoint (nothing
    reads one). A rerun of a killed job restores the points it finished and resumes the one it was training."""
    input:
        unpack(train_inputs),
    output:
        predictions=f"{POINT_DIR}/predictions.csv",
        history=f"{POINT_DIR}/history.csv",
        provenance=f"{POINT_DIR}/provenance.json",
    log:
        POINT_DIR.replace("results/selection", "results/logs/train_grid_point") + ".log",
    wildcard_constraints:
        method=TRAINED_METHOD_PATTERN,
    retries: RESOURCES["retries"]
    conda:
        "../../envs/torch.yaml"
    threads: RESOURCES["train_threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=gpu_count,
        attempt=lambda wildcards, attempt: attempt,  # extrapbench/jobs/train.py: a retry after a deterministic error stops
    params:
        run=grid_run_params,
        predict_train=False,  # selection reads val rows only
    script:
        "../../scripts/train.py"


rule select_hyperparameters:
    """The grid point with the lowest val MAE (only val rows are read for the choice), and every grid point's
    the benchmark's metrics (grid_metrics.json: Fig. 6's test MAE along λ; never read by the selection)."""
    input:
        predictions=lambda wildcards: expand(
            f"{POINT_DIR}/predictions.csv",
            points=point_chunks(wildcards.method, wildcards.backbone),
            allow_missing=True,
        ),
        provenance=lambda wildcards: expand(
            f"{POINT_DIR}/provenance.json",
            points=point_chunks(wildcards.method, wildcards.backbone),
            allow_missing=True,
        ),
        split="results/splits/{task}.json",
    output:
        selected=report(
            "results/selection/{task}/{backbone}/{method}/selected.json",
            caption="../report/selection.rst",
            category="Model selection",
            labels={"task": "{task}", "backbone": "{backbone}", "method": "{method}"},
        ),
        grid_metrics="results/selection/{task}/{backbone}/{method}/grid_metrics.json",
    log:
        "results/logs/select_hyperparameters/{task}/{backbone}/{method}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        points=lambda wildcards: method_grid(wildcards.method),
        seed=SELECTION["seed"],
    script:
        "../../scripts/select_hyperparameters.py"
