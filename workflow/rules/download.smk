rule download_dataset:
    """matminer.datasets.load_dataset (or paper B's HOIP / MPS, extrapbench.ane_data) into one table per dataset
    (id, structure if any, composition, targets)."""
    output:
        "results/datasets/{dataset}.pkl",
    params:
        data_home=config["data_home"],
        ane_data_home=config.get("ane_data_home", "data/ane"),
    log:
        "results/logs/download_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../../scripts/download_dataset.py"
