# The only rule that needs the internet (matminer's download, paper B's archive in extrapbench.ane_data): it runs
# where Snakemake itself runs (a cluster's login node), never as a cluster job, because compute nodes often have
# no network. `make download CONFIG=...` fetches every dataset of a config beforehand (docs/cluster.md: "Running on a SLURM
# cluster"); with the files already in data_home it reads them offline.
localrules:
    download_dataset,
    import_dataset,


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


rule import_dataset:
    """One of the config's own `datasets:` (extrapbench.data.own: CSV, JSON, extended XYZ or a folder of CIFs) into
    the same table, under results/datasets/own/ so that it never replaces a built-in dataset's. No network: local,
    as the download, because it reads the user's file where Snakemake runs."""
    output:
        "results/datasets/own/{dataset}.json.gz",
    log:
        "results/logs/import_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        entry=lambda wildcards: canonical(config["datasets"][wildcards.dataset]),
        # the file's content digest, not its time stamp: an edited file rebuilds the table and everything
        # downstream (Snakemake's params trigger); a file touched but unchanged rebuilds nothing
        source_digest=lambda wildcards: source_digest(wildcards.dataset),
    script:
        "../../scripts/import_dataset.py"
