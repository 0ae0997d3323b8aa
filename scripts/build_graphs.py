"""Rule build_graphs: structures -> periodic neighbour graphs (results/graphs/{dataset}.pt, plain tensors that
torch.load(weights_only=True) reads, extrapbench.graphs.save_graphs)"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

from extrapbench.data.datasets import read_dataset_table  # noqa: E402
from extrapbench.files import write_atomic  # noqa: E402
from extrapbench.data.graphs import build_graphs, save_graphs  # noqa: E402

table = read_dataset_table(snakemake.input[0])  # noqa: F821
if "structure" not in table.columns:
    raise ValueError(f"{snakemake.input[0]}: dataset {snakemake.wildcards.dataset!r} has no structures, so graph "  # noqa: F821
                     f"backbones cannot run on it; use a composition backbone (magpie_mlp)")
params = {"cutoff": float(snakemake.params.cutoff), "max_neighbors": int(snakemake.params.max_neighbors)}  # noqa: F821
graphs = build_graphs(list(table["structure"]), **params)
write_atomic(lambda p: save_graphs(p, list(table.index), graphs, **params), snakemake.output[0])  # noqa: F821
