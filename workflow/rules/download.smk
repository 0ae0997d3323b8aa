# The only rule that needs the internet (matminer's download, paper B's archive in extrapbench.ane_data): it runs
# where Snakemake itself runs (a cluster's login node), never as a cluster job, because compute nodes often have
# no network. `make download CONFIG=...` fetches every dataset of a config beforehand (README: "Running on a SLURM
# cluster"); with the files already in data_home it reads them offline.
localrules:
    download_dataset,


rule download_dataset:
    """matminer.datasets.load_dataset (or paper B's HOIP / MPS, extrapbench.ane_data) into one table per dataset
    (id, structure if any, composition, targets)."""
    output:
        "results/datasets/{dataset}.json.gz",
    log:
        "results/logs/download_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        data_home=config["data_home"],
        ane_data_home=config["ane_data_home"],
        # the source files' sha256: a file replaced in data_home rebuilds the table and everything downstream
        source_digest=lambda wildcards: source_digest(wildcards.dataset),
    script:
        "../../scripts/download_dataset.py"
