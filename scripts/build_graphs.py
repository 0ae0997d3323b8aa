"""Rule build_graphs: structures -> periodic neighbour graphs (results/graphs/{dataset}.pt, plain tensors that
torch.load(weights_only=True) reads, extrapbench.graphs.save_graphs)"""
from extrapbench.data.datasets import read_dataset_table
from extrapbench.data.graphs import build_graphs, save_graphs
from extrapbench.files import write_atomic
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    table = read_dataset_table(snakemake.input[0])
    if "structure" not in table.columns:
        raise ValueError(f"{snakemake.input[0]}: dataset {snakemake.wildcards.dataset!r} has no structures, so graph "
                         f"backbones cannot run on it; use a composition backbone (magpie_mlp)")
    params = {"cutoff": float(snakemake.params.cutoff), "max_neighbors": int(snakemake.params.max_neighbors)}
    graphs = build_graphs(list(table["structure"]), **params)
    write_atomic(lambda p: save_graphs(p, list(table.index), graphs, **params), snakemake.output[0])


run_rule(main, snakemake)  # noqa: F821
