"""Periodic crystal graphs in fairchem's (OCP's) data layout, built with pymatgen's neighbour list.

One ``torch_geometric.data.Data`` per structure, with the fields fairchem models read when they run with
``otf_graph=False, use_pbc=True`` (see ``fairchem.core.models.base.GraphModelMixin.generate_graph``):

=================  =================  ==================================================================
field              dtype, shape       meaning
=================  =================  ==================================================================
``atomic_numbers`` long  [N]          Z of each site (fairchem embeds by Z; an ordered, non-disordered
                                      structure is assumed, one element per site)
``pos``            float32 [N, 3]     Cartesian coordinates in Å, ``structure.cart_coords`` (not wrapped)
``cell``           float32 [1, 3, 3]  lattice vectors as rows (``lattice.matrix``); batching stacks to [B,3,3]
``natoms``         long  [1]          N; batching concatenates to [B] (fairchem uses ``len(data.natoms)``
                                      as the batch size)
``edge_index``     long  [2, E]       row 0 = neighbour / source j, row 1 = centre / target i
                                      (fairchem: messages flow j -> i, ``j, i = edge_index``)
``cell_offsets``   float32 [E, 3]     integer lattice image of j, so that the edge vector is
                                      ``pos[j] + cell_offsets @ cell - pos[i]`` (exactly what
                                      ``fairchem.core.common.utils.get_pbc_distances`` computes)
``neighbors``      long  [1]          E; batching concatenates to [B] (fairchem repeats each graph's cell
                                      ``neighbors[b]`` times, so edges must be grouped by graph, which
                                      PyG's collation guarantees)
``distances``      float32 [E]        |edge vector| in Å (informational; fairchem recomputes it)
=================  =================  ==================================================================

Neighbour selection. All periodic images within ``cutoff`` (Å, strict ``<`` as in pymatgen; the site itself
at zero distance is excluded, its own periodic images are included) are found with
``Structure.get_neighbor_list``, which is the complete, symmetric list (every i->j edge has its j->i
counterpart with the negated offset). Each centre then keeps at most ``max_neighbors`` of them, nearest
first. Ties are broken deterministically by (distance rounded to ``DISTANCE_TIE_DECIMALS`` decimals,
neighbour index j, image offset a, b, c), so the same structure always gives the same graph, and a rigid
rotation (which leaves indices and fractional offsets unchanged) gives the same edges.

Departures and consequences, stated once here:

* The cap is per centre, like fairchem's own ``radius_graph_pbc`` with ``enforce_max_neighbors_strictly``
  (the fairchem default). When it binds, the edge set is no longer symmetric: i may keep j while j drops i.
  fairchem's PaiNN re-symmetrises the graph itself (it keeps the edges with j < i and mirrors them), while
  EquiformerV2 uses the directed edges as given. When the cap cuts through a shell of equidistant
  neighbours, which members survive depends on atom order, so the representation is then only
  approximately invariant to permuting atoms; choose ``max_neighbors`` above the typical coordination
  within ``cutoff`` where exact invariance matters.
* An atom with no neighbour within ``cutoff`` is kept as a node with no edges: it receives no messages and
  its features depend on its element only (plus the mean pooling it takes part in). A whole structure with
  no edges gets ``E = 0``; fairchem's PaiNN refuses such a graph ("An image has no neighbors") and
  EquiformerV2 fails on an edgeless batch, so ``build_graphs`` logs a warning naming those structures and
  the backbone wrappers raise a clear error if one reaches them. Raise the cutoff in that case.
* Distances are computed by pymatgen in float64; the graph stores float32 like fairchem's data pipeline.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Dict, Iterable, List, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

if TYPE_CHECKING:  # torch_geometric is imported where graphs are made or read: its import costs seconds
    from torch_geometric.data import Data

log = logging.getLogger(__name__)

#: distances equal after rounding to this many decimals (Å) count as a tie when the cap is applied; this
#: absorbs float noise from rotating a structure without merging genuinely different shells
DISTANCE_TIE_DECIMALS = 6


def capped_neighbor_list(structure, cutoff: float, max_neighbors: int):
    """Periodic neighbour list of ``structure`` within ``cutoff``, at most ``max_neighbors`` per centre.

    Returns numpy arrays ``(centre, neighbour, image_offset, distance)``, sorted by centre, then by
    distance, then by the deterministic tie-break described in the module docstring.
    """
    if max_neighbors < 1:
        raise ValueError(f"max_neighbors must be >= 1, got {max_neighbors}")
    centre, neighbour, offset, distance = structure.get_neighbor_list(r=cutoff)
    centre = np.asarray(centre, dtype=np.int64)
    neighbour = np.asarray(neighbour, dtype=np.int64)
    offset = np.asarray(offset, dtype=np.float64).reshape(-1, 3)
    distance = np.asarray(distance, dtype=np.float64)
    if len(centre) == 0:
        return centre, neighbour, offset, distance

    # np.lexsort sorts by the LAST key first: centre, then rounded distance, then j, then offset a, b, c
    order = np.lexsort((offset[:, 2], offset[:, 1], offset[:, 0], neighbour,
                        np.round(distance, DISTANCE_TIE_DECIMALS), centre))
    centre, neighbour, offset, distance = centre[order], neighbour[order], offset[order], distance[order]

    # rank of each edge within its centre's (sorted) block
    block_start = np.r_[0, np.flatnonzero(np.diff(centre)) + 1]
    block_len = np.diff(np.r_[block_start, len(centre)])
    rank = np.arange(len(centre)) - np.repeat(block_start, block_len)
    keep = rank < max_neighbors
    return centre[keep], neighbour[keep], offset[keep], distance[keep]


def structure_to_graph(structure, cutoff: float, max_neighbors: int) -> "Data":
    """One pymatgen ``Structure`` -> a fairchem-ready periodic graph (fields: see the module docstring)."""
    centre, neighbour, offset, distance = capped_neighbor_list(structure, cutoff, max_neighbors)
    n_atoms = len(structure)
    n_edges = len(centre)
    from torch_geometric.data import Data  # imported where graphs are made: its import costs seconds

    return Data(
        atomic_numbers=torch.tensor(list(structure.atomic_numbers), dtype=torch.long),
        pos=torch.tensor(structure.cart_coords, dtype=torch.float32),
        cell=torch.tensor(structure.lattice.matrix, dtype=torch.float32).view(1, 3, 3),
        natoms=torch.tensor([n_atoms], dtype=torch.long),
        # fairchem convention: row 0 = source/neighbour j, row 1 = target/centre i
        edge_index=torch.tensor(np.stack([neighbour, centre]), dtype=torch.long).view(2, n_edges),
        cell_offsets=torch.tensor(np.rint(offset), dtype=torch.float32).view(n_edges, 3),
        neighbors=torch.tensor([n_edges], dtype=torch.long),
        distances=torch.tensor(distance, dtype=torch.float32),
        num_nodes=n_atoms,
    )


def build_graphs(structures: Iterable, cutoff: float, max_neighbors: int,
                 progress: bool = True, desc: str = "graphs", ids: Sequence[str] | None = None) -> List[Data]:
    """``structure_to_graph`` over many structures, with a tqdm progress bar.

    Logs one warning listing the structures that have no edge at all (see module docstring): by material id
    when ``ids`` (one per structure) are given, else by position.
    """
    structures = list(structures)
    graphs = [structure_to_graph(s, cutoff, max_neighbors)
              for s in tqdm(structures, desc=desc, disable=not progress)]
    edgeless = [k for k, g in enumerate(graphs) if g.edge_index.shape[1] == 0]
    if edgeless:
        named = ("materials " + ", ".join(str(ids[k]) for k in edgeless[:10]) if ids is not None
                 else f"positions {edgeless[:10]}")
        log.warning("%d of %d structures have no neighbour within the cutoff %.2f Å (%s%s); the graph backbones "
                    "cannot process them: raise the config's graph.cutoff", len(edgeless), len(graphs), cutoff,
                    named, ", ..." if len(edgeless) > 10 else "")
    return graphs


def edgeless_members_error(ids: Sequence[str], graphs: Sequence[Data], cutoff, source,
                           parts: Dict[str, str] | None = None) -> str | None:
    """A message naming the materials among ``ids`` whose graph has no edge (no neighbour within ``cutoff``),
    their split part (``parts``: id -> part) and the cutoff, or None when every graph has an edge. The graph
    backbones refuse such a graph at its first batch; a training job checks its split members before training."""
    edgeless = [str(i) for i, g in zip(ids, graphs) if int(g.edge_index.shape[1]) == 0]
    if not edgeless:
        return None
    shown = ", ".join(f"{i} ({parts[i]})" if parts and i in parts else i for i in edgeless[:10])
    within = f"the graph cutoff {cutoff} Å" if cutoff is not None else "the graph cutoff"
    return (f"{source}: {len(edgeless)} material(s) have no neighbour within {within}: {shown}"
            f"{', ...' if len(edgeless) > 10 else ''}; the graph backbones cannot process a graph without edges: "
            f"raise the config's graph.cutoff, or leave these materials out of the task")


def edgeless_graphs(batch) -> Sequence[int]:
    """Indices (within a PyG Batch) of graphs that have no edge; the backbone wrappers refuse those."""
    return torch.nonzero(batch.neighbors == 0).flatten().tolist()


def as_graph_batch(data):
    """A single ``Data`` becomes a one-graph ``Batch`` (fairchem needs ``batch`` and per-graph fields)."""
    from torch_geometric.data import Batch
    if getattr(data, "batch", None) is None:
        return Batch.from_data_list([data])
    return data


def check_graph_batch(batch, cutoff: float, model_name: str) -> None:
    """Refuse batches fairchem would mishandle: an edgeless graph, or edges longer than the model's cutoff.

    A graph built with a *larger* cutoff than the model's would be silently truncated by PaiNN's envelope and
    mis-embedded by EquiformerV2's distance basis, so this is an error, not a warning.
    """
    edgeless = edgeless_graphs(batch)
    if edgeless:
        # positions within the batch only (a training job names the materials before it trains: run.graph_samples)
        raise ValueError(f"{model_name}: graphs {edgeless} of the batch have no edge within the cutoff {cutoff} Å; "
                         "fairchem backbones cannot process them (raise the config's graph.cutoff)")
    distances = getattr(batch, "distances", None)
    if distances is not None and distances.numel() > 0:
        longest = float(distances.max())
        if longest > cutoff * (1 + 1e-5):
            raise ValueError(f"{model_name}: the batch has an edge of {longest:.3f} Å, beyond the model "
                             f"cutoff {cutoff} Å; build the graphs with the model's cutoff")


def mean_pool(node_features: torch.Tensor, batch_index: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-graph mean of per-atom features (the properties are intensive, so atoms are averaged): [N, F] -> [B, F]."""
    sums = node_features.new_zeros(num_graphs, node_features.shape[1])
    sums = sums.index_add(0, batch_index, node_features)
    counts = torch.bincount(batch_index, minlength=num_graphs).clamp(min=1).to(node_features.dtype)
    return sums / counts.unsqueeze(1)


#: the graphs file between jobs (results/graphs/{dataset}.pt): plain tensors, lists and numbers only, so that
#: ``torch.load(weights_only=True)`` reads it (torch_geometric ``Data`` objects need a full unpickler, which runs
#: whatever code a planted file names). Per field, the graphs' tensors are concatenated; ``natoms`` and
#: ``neighbors`` (atoms and edges per graph) cut them apart again.
GRAPHS_FORMAT = "extrapbench-graphs/2"
NODE_FIELDS = ("atomic_numbers", "pos")                     # [N, ...] per graph
EDGE_FIELDS = ("cell_offsets", "distances")                 # [E, ...] per graph (edge_index: [2, E])
GRAPH_FIELDS = ("cell",)                                    # [1, 3, 3] per graph


def graphs_to_tensors(ids: Sequence[str], graphs: Sequence[Data], **meta) -> dict:
    """The weights_only-safe form of `graphs` (see GRAPHS_FORMAT)."""
    out = {"format": GRAPHS_FORMAT, "ids": [str(i) for i in ids], **meta,
           "natoms": torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long),
           "neighbors": torch.tensor([int(g.edge_index.shape[1]) for g in graphs], dtype=torch.long)}
    for field in NODE_FIELDS + EDGE_FIELDS + GRAPH_FIELDS:
        out[field] = torch.cat([getattr(g, field) for g in graphs]) if graphs else torch.zeros(0)
    out["edge_index"] = (torch.cat([g.edge_index for g in graphs], dim=1) if graphs
                         else torch.zeros((2, 0), dtype=torch.long))
    return out


def tensors_to_graphs(stored: dict, only=None) -> tuple[list[str], list[Data]]:
    """(ids, graphs) back from `graphs_to_tensors`' form; `only`: just the graphs of these ids (a training job's
    split members). When most graphs are wanted they are views into the stored tensors (the file's tensors held
    once); a few are copied out, so that the rest can be freed."""
    if stored.get("format") != GRAPHS_FORMAT:
        raise ValueError(f"not an extrapbench graphs file ({GRAPHS_FORMAT}); delete it and rerun build_graphs")
    from torch_geometric.data import Data

    all_ids = [str(i) for i in stored["ids"]]
    keep = [k for k, i in enumerate(all_ids) if only is None or i in only]
    copy = (lambda t: t.clone()) if len(keep) < len(all_ids) // 2 else (lambda t: t)
    natoms, neighbors = stored["natoms"].tolist(), stored["neighbors"].tolist()
    nodes = {f: torch.split(stored[f], natoms) for f in NODE_FIELDS}
    edges = {f: torch.split(stored[f], neighbors) for f in EDGE_FIELDS}
    edge_index = torch.split(stored["edge_index"], neighbors, dim=1)
    graphs = []
    for k in keep:
        n, e = natoms[k], neighbors[k]
        graphs.append(Data(
            atomic_numbers=copy(nodes["atomic_numbers"][k]), pos=copy(nodes["pos"][k]),
            cell=copy(stored["cell"][k:k + 1]), natoms=torch.tensor([n], dtype=torch.long),
            edge_index=copy(edge_index[k]), cell_offsets=copy(edges["cell_offsets"][k]),
            neighbors=torch.tensor([e], dtype=torch.long), distances=copy(edges["distances"][k]), num_nodes=n))
    return [all_ids[k] for k in keep], graphs


def save_graphs(path, ids: Sequence[str], graphs: Sequence[Data], **meta) -> None:
    torch.save(graphs_to_tensors(ids, graphs, **meta), path)


def load_graphs(path, only=None) -> tuple[list[str], list[Data], dict]:
    """(ids, graphs, meta: cutoff / max_neighbors) of a graphs file, read with weights_only=True onto the host;
    `only`: the graphs of these ids alone (see tensors_to_graphs)."""
    stored = torch.load(path, map_location="cpu", weights_only=True)
    ids, graphs = tensors_to_graphs(stored, only=None if only is None else set(map(str, only)))
    meta = {k: stored[k] for k in ("cutoff", "max_neighbors") if k in stored}
    return ids, graphs, meta
