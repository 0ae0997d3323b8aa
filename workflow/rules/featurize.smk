rule featurize_magpie:
    """Magpie composition features, once per dataset."""
    input:
        lambda wildcards: dataset_file(wildcards.dataset),
    output:
        "results/features/{dataset}/magpie.csv",
    log:
        "results/logs/featurize_magpie/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../../scripts/featurize_magpie.py"


rule build_graphs:
    """Periodic neighbour graphs (pymatgen edges) as torch-geometric Data, once per dataset."""
    input:
        lambda wildcards: dataset_file(wildcards.dataset),
    output:
        "results/graphs/{dataset}.pt",
    log:
        "results/logs/build_graphs/{dataset}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=240,
    params:
        cutoff=GRAPH["cutoff"],
        max_neighbors=GRAPH["max_neighbors"],
    script:
        "../../scripts/build_graphs.py"
