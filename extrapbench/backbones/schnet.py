"""SchNet backbone from torch_geometric's building blocks, on the same precomputed periodic graphs.

A fast graph backbone for CPU runs and tests (not one of paper A's backbones). It uses PyG's SchNet pieces
(``GaussianSmearing``, ``InteractionBlock`` with its cosine-cutoff continuous filter) but not PyG's
``SchNet`` model, whose neighbour search (``radius_graph``) is non-periodic and needs torch-cluster: edges
come from ``extrapbench.data.graphs`` instead, in fairchem's convention (row 0 = neighbour j, row 1 = centre i,
edge vector ``pos[j] + cell_offsets @ cell - pos[i]``), which is also PyG's source -> target flow.

Edge lengths are recomputed from ``pos`` on every forward pass (not read from ``batch.distances``), so a
method that perturbs coordinates (e.g. ConR's noise views) changes them, as it does for the fairchem models.

Representation: per-atom features after the last interaction block, averaged per structure ->
[B, hidden_channels]. No readout MLP: the method's head plays that role.

SchNet itself could embed a structure without edges, but it refuses one like the fairchem backbones do, so
that every graph backbone accepts the same data.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock

from extrapbench.backbones.base import Backbone
from extrapbench.hparams import Choice, Integer, Number, NumberList
from extrapbench.data.graphs import as_graph_batch, check_graph_batch, mean_pool
from extrapbench.registry import BACKBONES


def periodic_edge_lengths(batch) -> torch.Tensor:
    """|pos[j] + cell_offsets @ cell - pos[i]| for every edge of a collated batch (differentiable in pos)."""
    j, i = batch.edge_index
    cell_of_edge = batch.cell[batch.batch[i]]  # [E, 3, 3]
    image_shift = torch.bmm(batch.cell_offsets.unsqueeze(1), cell_of_edge).squeeze(1)
    return (batch.pos[j] + image_shift - batch.pos[i]).norm(dim=-1)


@BACKBONES.register("schnet")
class SchNet(Backbone):
    """SchNet (Schütt et al. 2018) interaction blocks -> mean of per-atom features.

    Defaults (about 0.2 M parameters): 128 channels and filters, 3 interactions, 50 Gaussians, cutoff 6 Å,
    at most 24 neighbours per atom. Atom embeddings are indexed by Z (``num_elements`` = 100 covers Z < 100).
    """

    input_kind = "graph"
    #: allowed values of the constructor's keywords (extrapbench.hparams), checked before any job runs
    hparam_specs = {"hidden_channels": Integer(min=1), "num_filters": Integer(min=1),
                    "num_interactions": Integer(min=1), "num_gaussians": Integer(min=1),
                    "cutoff": Number(min=0, min_exclusive=True), "max_neighbors": Integer(min=1),
                    "num_elements": Integer(min=1)}

    def __init__(self, hidden_channels: int = 128, num_filters: int = 128, num_interactions: int = 3,
                 num_gaussians: int = 50, cutoff: float = 6.0, max_neighbors: int = 24,
                 num_elements: int = 100):
        super().__init__()
        self.cutoff = float(cutoff)
        self.max_neighbors = int(max_neighbors)
        self.out_dim = int(hidden_channels)
        self.hparams = dict(hidden_channels=hidden_channels, num_filters=num_filters,
                            num_interactions=num_interactions, num_gaussians=num_gaussians, cutoff=cutoff,
                            max_neighbors=max_neighbors, num_elements=num_elements)
        self.embedding = nn.Embedding(num_elements, hidden_channels)
        self.distance_expansion = GaussianSmearing(0.0, self.cutoff, num_gaussians)
        self.interactions = nn.ModuleList(
            InteractionBlock(hidden_channels, num_gaussians, num_filters, self.cutoff)
            for _ in range(num_interactions))

    def forward(self, batch):
        batch = as_graph_batch(batch)
        check_graph_batch(batch, self.cutoff, "schnet")
        lengths = periodic_edge_lengths(batch)
        edge_features = self.distance_expansion(lengths)
        h = self.embedding(batch.atomic_numbers)
        for interaction in self.interactions:
            h = h + interaction(h, batch.edge_index, lengths, edge_features)
        return mean_pool(h, batch.batch, int(batch.natoms.shape[0]))
