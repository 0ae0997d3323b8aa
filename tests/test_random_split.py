"""The `random` split kind (extrapbench/splits/random.py) and the public validation draw
(extrapbench.splits.draw_validation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from extrapbench.registry import SPLITS
from extrapbench.splits import draw_validation
from extrapbench.splits.composition import split_train_pool
from extrapbench.splits.random import MATBENCH_N_FOLDS, MATBENCH_SEED, kfold_test_positions, random_split


def table(n: int = 200) -> pd.DataFrame:
    # ids deliberately not in sorted order, so the fold mode's use of row order is visible
    ids = [f"m{(7 * i) % n:04d}" for i in range(n)] if n % 7 else [f"m{i:04d}" for i in range(n)]
    return pd.DataFrame({"target": np.linspace(0.0, 1.0, n)}, index=ids)


def test_registered():
    assert SPLITS.get("random") is random_split
    assert random_split.tie_rule.startswith("none")


@pytest.mark.parametrize("n, test_fraction, val_fraction", [(200, 0.15, 0.15), (101, 0.2, 0.1), (10, 0.3, 0.2)])
def test_fractions_and_disjointness(n, test_fraction, val_fraction):
    frame = table(n)
    parts = random_split(frame, test_fraction=test_fraction, val_fraction=val_fraction, seed=3)
    assert len(parts["test"]) == round(test_fraction * n) and len(parts["val"]) == round(val_fraction * n)
    assert len(parts["train"]) == n - len(parts["test"]) - len(parts["val"])
    sets = {p: set(parts[p]) for p in ("train", "val", "test")}
    assert all(len(sets[p]) == len(parts[p]) for p in sets)
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == set(frame.index)


def test_seed_reproducible_and_order_independent():
    frame = table(200)
    first = random_split(frame, seed=1)
    assert random_split(frame, seed=1) == first
    assert random_split(frame.sample(frac=1.0, random_state=5), seed=1) == first  # the row order does not matter
    assert random_split(frame, seed=2)["test"] != first["test"]
    # not a label-range split: the test targets spread over the range
    test_targets = frame.loc[first["test"], "target"]
    assert test_targets.min() < 0.2 and test_targets.max() > 0.8


def test_bad_parameters():
    frame = table(20)
    with pytest.raises(ValueError, match="sum below 1"):
        random_split(frame, test_fraction=0.6, val_fraction=0.5)
    with pytest.raises(ValueError, match="too few"):
        random_split(table(3), test_fraction=0.1, val_fraction=0.1)
    with pytest.raises(ValueError, match="fold must be an integer"):
        random_split(frame, fold=5)
    with pytest.raises(ValueError, match="fold must be an integer"):
        random_split(frame, fold=True)
    with pytest.raises(ValueError, match="n_folds"):
        kfold_test_positions(3, n_folds=5)


@pytest.mark.parametrize("n", [10, 23, 1265])
def test_folds_partition_the_data(n):
    frame = table(n)
    tests = [random_split(frame, fold=k)["test"] for k in range(MATBENCH_N_FOLDS)]
    assert sorted(i for fold in tests for i in fold) == sorted(frame.index)
    sizes = sorted(len(fold) for fold in tests)
    assert sizes[-1] - sizes[0] <= 1
    for k in range(MATBENCH_N_FOLDS):
        parts = random_split(frame, fold=k, val_fraction=0.2, seed=4)
        pool = set(frame.index) - set(tests[k])
        assert set(parts["train"]) | set(parts["val"]) == pool and not set(parts["train"]) & set(parts["val"])
        assert len(parts["val"]) == round(0.2 * len(pool))


# KFold(n_splits=5, shuffle=True, random_state=18012019) on 7 samples, derived by hand from its documented
# algorithm (sklearn/model_selection/_split.py, KFold._iter_test_indices): indices = arange(7);
# RandomState(18012019).shuffle(indices); fold sizes [2, 2, 1, 1, 1] (7 // 5 = 1, the first 7 % 5 = 2 folds one
# larger); folds are consecutive slices of the shuffled indices. The shuffle of arange(7) by that RandomState is
# numpy's legacy Fisher-Yates (stable across numpy versions by NEP 19's compatibility promise for RandomState).
HAND_SHUFFLED_7 = np.random.RandomState(MATBENCH_SEED).permutation(7)  # == shuffle of arange(7) in place


def test_folds_by_hand_from_kfolds_algorithm():
    shuffled = np.arange(7)
    np.random.RandomState(MATBENCH_SEED).shuffle(shuffled)
    assert shuffled.tolist() == HAND_SHUFFLED_7.tolist()
    expected = [shuffled[0:2], shuffled[2:4], shuffled[4:5], shuffled[5:6], shuffled[6:7]]
    got = kfold_test_positions(7)
    assert [g.tolist() for g in got] == [e.tolist() for e in expected]


@pytest.mark.parametrize("n", [7, 23, 1265, 4764])
def test_folds_match_sklearn_kfold(n):
    KFold = pytest.importorskip("sklearn.model_selection").KFold
    ours = kfold_test_positions(n)
    theirs = [test for _, test in KFold(n_splits=5, shuffle=True, random_state=MATBENCH_SEED).split(np.zeros(n))]
    assert [sorted(o.tolist()) for o in ours] == [t.tolist() for t in theirs]  # split() yields them sorted
    # through the split kind: fold k's test ids are the table's rows at sklearn's test positions
    frame = table(n)
    for k in (0, 4):
        assert random_split(frame, fold=k)["test"] == sorted(frame.index[theirs[k]])


def test_matbench_phonons_fold_zero(phonons_table):
    """On the shipped matbench_phonons (1,265 rows in file order) fold 0 is matbench's: KFold's fold 0."""
    KFold = pytest.importorskip("sklearn.model_selection").KFold
    frame = phonons_table.assign(target=0.0)
    test_positions = next(iter(KFold(5, shuffle=True, random_state=18012019).split(np.zeros(len(frame)))))[1]
    parts = random_split(frame, fold=0)
    assert parts["test"] == sorted(frame.index[test_positions])
    assert len(parts["test"]) == 253


# ---------------------------------------------------------------------------------------------------------------
# draw_validation
# ---------------------------------------------------------------------------------------------------------------
def test_draw_validation_fraction_disjoint_reproducible():
    pool = [f"x{i:03d}" for i in range(100)]
    train, val = draw_validation(pool, 0.15, seed=7)
    assert len(val) == 15 and len(train) == 85
    assert set(train) | set(val) == set(pool) and not set(train) & set(val)
    assert (train, val) == draw_validation(list(reversed(pool)), 0.15, seed=7)  # order does not matter
    assert draw_validation(pool, 0.15, seed=8)[1] != val
    assert train == sorted(train) and val == sorted(val) and all(type(i) is str for i in train + val)


def test_draw_validation_refuses_bad_input():
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        draw_validation(["a", "b"], 1.0, seed=0)
    with pytest.raises(ValueError, match="too few"):
        draw_validation(["a", "b"], 0.1, seed=0)
    with pytest.raises(ValueError, match="twice"):
        draw_validation(["a", "a", "b"], 0.5, seed=0)


def test_old_helper_is_the_same_draw():
    pool, test = [f"p{i}" for i in range(30)], ["t1", "t0"]
    parts = split_train_pool(pool, test, 0.2, 3, "demo")
    assert (parts["train"], parts["val"]) == draw_validation(pool, 0.2, 3)
    assert parts["test"] == ["t0", "t1"]
    # the algorithm the paper-B splits always used: default_rng(seed).choice over the sorted pool
    sorted_pool = np.sort(np.asarray(pool, dtype=str))
    chosen = np.random.default_rng(3).choice(len(pool), size=6, replace=False)
    assert parts["val"] == sorted(sorted_pool[chosen].tolist())
