"""Range splits reproduce the paper's Table 1 (docs/benchmark.md) and are disjoint and strictly ordered."""
from __future__ import annotations

import bz2
import json

import numpy as np
import pandas as pd
import pytest

from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset
from extrapbench.splits.task_split import make_split, task_table
from extrapbench.splits.range import range_split
from extrapbench.tasks import BUILTIN_TASKS

from conftest import shared_or_skip

# the paper's Table 1: (train, val, test) label ranges of the transformed target
PAPER_RANGES = {
    "formation_energy_bottom": ((1.06, 5.16), (0.76, 1.06), (-0.64, 0.76)),
    "shear_modulus_bottom": ((1.40, 2.72), (1.18, 1.40), (0.0, 1.18)),
    "shear_modulus_top": ((0.0, 1.78), (1.78, 1.93), (1.93, 2.72)),
    "refractive_index_bottom": ((0.56, 4.13), (0.45, 0.56), (0.0, 0.45)),
    "refractive_index_top": ((0.0, 0.90), (0.90, 1.11), (1.11, 4.13)),
    "phonons_bottom": ((5.72, 8.20), (5.41, 5.72), (4.09, 5.41)),
    "phonons_top": ((4.09, 6.45), (6.45, 6.79), (6.80, 8.20)),
}
PAPER_COUNTS = {"formation_energy_bottom": 18928, "shear_modulus_bottom": 10987, "shear_modulus_top": 10987,
                "refractive_index_bottom": 4764, "refractive_index_top": 4764, "phonons_bottom": 1265,
                "phonons_top": 1265}
PARTS = ("train", "val", "test")


def assert_strictly_ordered(summary):
    lo_to_hi = ["test", "val", "train"] if summary["side"] == "bottom" else ["train", "val", "test"]
    for lower, upper in zip(lo_to_hi, lo_to_hi[1:]):
        assert summary[lower]["max"] < summary[upper]["min"], (lower, upper)
    ids = [set(summary[p]["ids"]) for p in PARTS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(len(i) for i in ids) == summary["n_total"]


def assert_reproduces_paper(summary, labels: np.ndarray):
    """Every range end equals the paper's to 2 decimals (one unit of the last digit allowed: the paper rounds
    inconsistently, e.g. phonons_top val max 6.7964 -> "6.79"), except at a cut whose label value is tied:
    there the paper shows the same value on both sides, which a strictly ordered split cannot; we check that
    the held-out side carries the paper's value and the train side starts at the next distinct label."""
    paper = dict(zip(PARTS, PAPER_RANGES[summary["task"]]))
    distinct = np.unique(np.round(labels, 12))
    for part in PARTS:
        for end, index in (("min", 0), ("max", 1)):
            ours, theirs = summary[part][end], paper[part][index]
            if abs(round(ours, 2) - theirs) <= 0.01 + 1e-9:
                continue
            # a tied cut: the paper's value is shared with the neighbouring part
            neighbour = {("train", "min"): "val", ("train", "max"): "val", ("val", "min"): "test",
                         ("val", "max"): "test"}.get((part, end))
            if summary["side"] == "bottom" and part == "val" and end == "max":
                neighbour = "train"
            assert neighbour is not None, (part, end, ours, theirs)
            assert theirs in paper[neighbour], f"{part} {end}={ours:.4f} vs paper {theirs} is not a tied cut"
            held_out, nearer_train = ((neighbour, part) if PARTS.index(neighbour) > PARTS.index(part)
                                      else (part, neighbour))
            held_end = summary[held_out]["max" if summary["side"] == "bottom" else "min"]
            assert round(held_end, 2) == pytest.approx(theirs, abs=1e-9)
            beyond = distinct[distinct > held_end] if summary["side"] == "bottom" else distinct[distinct < held_end]
            next_label = beyond.min() if summary["side"] == "bottom" else beyond.max()
            train_side_end = summary[nearer_train]["min" if summary["side"] == "bottom" else "max"]
            assert train_side_end == pytest.approx(next_label)


@pytest.mark.parametrize("task_id", ["phonons_bottom", "phonons_top"])
def test_shipped_phonon_splits_reproduce_table_1(task_id, phonons_table):
    task = BUILTIN_TASKS[task_id]
    table = task_table(task, phonons_table)
    summary = make_split(task, table)
    assert summary["n_total"] == PAPER_COUNTS[task_id]
    assert_strictly_ordered(summary)
    assert_reproduces_paper(summary, table["target"].to_numpy())
    for part in PARTS:  # summaries agree with the members they list
        values = table.loc[summary[part]["ids"], "target"]
        assert summary[part]["n"] == len(values)
        assert summary[part]["min"] == values.min() and summary[part]["max"] == values.max()
    assert summary["test"]["n"] == pytest.approx(0.15 * summary["n_total"], abs=3)


@pytest.mark.parametrize("task_id", ["formation_energy_bottom", "refractive_index_bottom", "refractive_index_top"])
def test_shared_structure_datasets_reproduce_table_1(task_id):
    task = BUILTIN_TASKS[task_id]
    home = shared_or_skip("matminer", f"{task.dataset}.json.gz").parent
    table = task_table(task, standardize_dataset(task.dataset, load_matminer_dataset(task.dataset, home)))
    summary = make_split(task, table)
    assert summary["n_total"] == PAPER_COUNTS[task_id]
    assert_strictly_ordered(summary)
    assert_reproduces_paper(summary, table["target"].to_numpy())


@pytest.mark.parametrize("task_id", ["shear_modulus_bottom", "shear_modulus_top"])
def test_shear_targets_reproduce_table_1(task_id):
    """matbench_log_gvrh structures are not available offline; its targets are, and the split needs no more."""
    path = shared_or_skip("targets", "matbench_log_gvrh.json.bz2")
    raw = pd.DataFrame(json.load(bz2.open(path)))
    frame = pd.DataFrame({"log10(G_VRH)": raw["log10(G_VRH)"].to_numpy()},
                         index=[f"matbench_log_gvrh-{i:05d}" for i in range(len(raw))])
    task = BUILTIN_TASKS[task_id]
    table = task_table(task, frame)
    summary = make_split(task, table)
    assert summary["n_total"] == PAPER_COUNTS[task_id]
    assert_strictly_ordered(summary)
    assert_reproduces_paper(summary, table["target"].to_numpy())


def test_ties_at_a_cut_go_to_the_held_out_side():
    # 20 labels; the 15% position (3 samples) falls inside a block of four 1.0s
    labels = [0.0, 0.5, 1.0, 1.0, 1.0, 1.0] + list(np.linspace(2, 9, 14))
    table = pd.DataFrame({"target": labels}, index=[f"m{i:02d}" for i in range(20)])
    parts = range_split(table, side="bottom")
    test_values = table.loc[parts["test"], "target"]
    assert sorted(test_values) == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    assert table.loc[parts["val"], "target"].min() > 1.0
    top = range_split(table.assign(target=-table["target"]), side="top")
    assert sorted(top["test"]) == sorted(parts["test"])


def test_split_is_deterministic_and_rejects_bad_params():
    table = pd.DataFrame({"target": np.random.default_rng(0).normal(size=100)},
                         index=[f"m{i:03d}" for i in range(100)])
    assert range_split(table, side="top") == range_split(table.sample(frac=1, random_state=1), side="top")
    with pytest.raises(ValueError, match="side must be"):
        range_split(table, side="left")
    with pytest.raises(ValueError, match="fractions"):
        range_split(table, side="top", test_fraction=0.6, val_fraction=0.5)
