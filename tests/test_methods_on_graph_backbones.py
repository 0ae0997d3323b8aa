"""Every registered method trains on every graph backbone (PaiNN, EquiformerV2 from fairchem; SchNet).

The method tests elsewhere check what defines each method on the Magpie MLP, where a step takes a millisecond.
Here each method runs every one of its stages on a real batch of matbench_phonons crystals through a small
PaiNN / EquiformerV2 / SchNet: losses finite, gradients reach the backbone wherever the stage trains it, and
predictions come back one per material. ConR's views perturb the atom positions here, FDS's statistics and
FOMA's SVD see a GNN's representation, MEX's score sees a GNN's embedding: the paths a composition backbone
never takes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from extrapbench.data.graphs import build_graphs
from extrapbench.methods.base import LabelContext
from extrapbench.registry import METHODS
from extrapbench.training.loop import seed_everything
from test_backbones import DATA_HOME, small_equiformer_v2, small_painn, small_schnet

GRAPH_BACKBONES = {"painn": small_painn, "equiformer_v2": small_equiformer_v2, "schnet": small_schnet}
# MEX at its paper sizes scores 500 noisy labels and searches 1,500 candidates; a few suffice to exercise it
SMALL_HPARAMS = {"mex": {"num_noise_labels": 16, "num_candidates": 32, "search_iterations": 2,
                         "score_hidden_dim": 16}}
BATCH_SIZE = 12


@pytest.fixture(scope="module")
def phonon_graphs():
    from matminer.datasets import load_dataset
    frame = load_dataset("matbench_phonons", data_home=str(DATA_HOME))
    small = frame[frame.structure.apply(len).between(2, 8)].iloc[:BATCH_SIZE]
    graphs = build_graphs(list(small.structure), cutoff=5.0, max_neighbors=12, progress=False)
    y = np.log(small["last phdos peak"].to_numpy())
    y = (y - y.mean()) / y.std()
    for graph, value in zip(graphs, y):
        graph.y = torch.tensor([value], dtype=torch.float32)
    return graphs


@pytest.mark.parametrize("backbone_name", list(GRAPH_BACKBONES))
@pytest.mark.parametrize("method_name", METHODS.names())
def test_method_trains_every_stage_on_the_graph_backbone(method_name, backbone_name, phonon_graphs):
    seed_everything(0)
    backbone = GRAPH_BACKBONES[backbone_name](max_neighbors=12)
    y = np.array([float(g.y) for g in phonon_graphs])
    labels = LabelContext(train_min=float(y.min()), train_max=float(y.max()), side="top",
                          dataset_min=float(y.min()), dataset_max=float(y.max()) + 1.0, mean=0.0, std=1.0)
    method = METHODS.get(method_name)(backbone, labels, **SMALL_HPARAMS.get(method_name, {}))
    method.train_batch_sampler(y, 6, torch.Generator().manual_seed(0))
    batch = Batch.from_data_list(phonon_graphs)
    pos_before = batch.pos.clone()
    for stage in method.stages:
        method.begin_stage(stage)
        groups = method.param_groups(1e-3, 0.0)
        trained = {id(p) for group in groups for p in group["params"]}
        optimizer = torch.optim.AdamW(groups)
        for epoch in range(2):
            method.train()
            method.on_epoch_start(epoch, [batch])
            optimizer.zero_grad()
            loss, logs = method.training_loss(batch)
            assert torch.isfinite(loss), (method_name, backbone_name, stage, epoch)
            assert isinstance(logs, dict)
            loss.backward()
            backbone_grads = [p.grad for p in backbone.parameters() if id(p) in trained and p.grad is not None]
            if any(id(p) in trained for p in backbone.parameters()):
                assert backbone_grads, f"{method_name}/{stage}: the backbone is trained but gets no gradient"
                assert all(torch.isfinite(g).all() for g in backbone_grads)
                assert sum(g.abs().sum() for g in backbone_grads) > 0
            optimizer.step()
            method.on_epoch_end(epoch)
    assert torch.equal(batch.pos, pos_before), "a method changed the caller's batch"
    method.eval()
    with torch.no_grad():
        prediction = method.predict(batch)
    assert prediction.shape == (BATCH_SIZE,) and torch.isfinite(prediction).all()
