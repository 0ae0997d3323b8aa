rule train:
    """One (method, backbone, task, seed) run: SPEC §5 protocol, best-val checkpoint, val/test predictions.
    With a selection grid for the method, it trains the selected grid point's hyper-parameters."""
    input:
        unpack(final_train_inputs),
    output:
        predictions=RUN_DIR + "/predictions.csv",
        history=RUN_DIR + "/history.csv",
        checkpoint=RUN_DIR + "/model.pt",
        provenance=RUN_DIR + "/provenance.json",
    params:
        backbone_params=lambda wildcards: config["backbones"][wildcards.backbone] or {},
        method_params=method_entry,
        train_params=run_train_settings,
        seed=lambda wildcards: int(wildcards.seed),
        point=None,
        run_dir=RUN_DIR,
        predict_train=True,
    log:
        RUN_DIR.replace("results/runs", "results/logs/train") + ".log",
    conda:
        "../../envs/torch.yaml"
    threads: RESOURCES["train_threads"]
    resources:
        mem_mb=8000,
        runtime=720,
        gpu=gpu_count,
    script:
        "../../scripts/train.py"


use rule train as train_grid_point with:
    input:
        unpack(train_inputs),
    output:
        predictions=POINT_DIR + "/predictions.csv",
        history=POINT_DIR + "/history.csv",
        checkpoint=POINT_DIR + "/model.pt",
        provenance=POINT_DIR + "/provenance.json",
    params:
        backbone_params=lambda wildcards: config["backbones"][wildcards.backbone] or {},
        method_params=method_entry,
        train_params=run_train_settings,
        seed=SELECTION.get("seed", 0),
        point=grid_point_params,
        run_dir=POINT_DIR,
        predict_train=False,  # selection reads val rows only
    log:
        POINT_DIR.replace("results/selection", "results/logs/train_grid_point") + ".log",


rule select_hyperparameters:
    """The grid point with the lowest val MAE (test predictions are never read)."""
    input:
        predictions=lambda wildcards: expand(POINT_DIR + "/predictions.csv", point=point_ids(wildcards.method),
                                             allow_missing=True),
    output:
        selected=report("results/selection/{task}/{backbone}/{method}/selected.json",
                        caption="../report/selection.rst", category="Model selection",
                        labels={"task": "{task}", "backbone": "{backbone}", "method": "{method}"}),
    params:
        points=lambda wildcards: method_grid(wildcards.method),
        seed=SELECTION.get("seed", 0),
    log:
        "results/logs/select_hyperparameters/{task}/{backbone}/{method}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/select_hyperparameters.py"
