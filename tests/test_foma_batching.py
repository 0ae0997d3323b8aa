"""FOMA's label-neighbour batches visit every training sample once per epoch, and the module and the benchmark's
release-differences section say how the FOMA authors' released loop differs (an anchor reused before the used
samples are removed, so some samples go unvisited)."""
from __future__ import annotations

import numpy as np
import torch

import extrapbench.methods.foma as foma
from conftest import REPO


def test_every_sample_is_visited_exactly_once_per_epoch_at_the_phonon_tasks_size():
    labels = np.random.default_rng(0).normal(size=885)
    sampler = foma.LabelNeighbourBatchSampler(labels, 64, torch.Generator().manual_seed(0))
    for _ in range(3):
        batches = list(sampler)
        assert len(batches) == 14 and max(map(len, batches)) - min(map(len, batches)) <= 1
        assert sorted(i for batch in batches for i in batch) == list(range(885))


def test_the_module_and_the_release_differences_say_what_the_release_does():
    doc = " ".join(foma.__doc__.split())
    for phrase in ("FOMA authors' released training loop", "before* the previous batch's samples are removed",
                   "unvisited", "Ours (`LabelNeighbourBatchSampler`)", "no batch is dropped"):
        assert phrase in doc, phrase
    section = (REPO / "docs" / "benchmark.md").read_text().split("## What the MEX authors' released code", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| FOMA's label-neighbour batches"))
    assert "anchor is reused" in row and "unvisited" in row and "visited once per epoch" in row
