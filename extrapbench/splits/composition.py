"""What the composition-based split kinds share: each material's element set, and a validation set drawn from the
train pool (``draw_validation``, public: any split kind without a validation set of its own can use it).

Paper B has train and test only. The benchmark's protocol needs a validation set (early stopping, the LR schedule
and hyper-parameter selection all read val MAE), and one drawn from the test side would leak the held-out
chemistry, so val is a seeded random ``val_fraction`` of the train pool: an in-distribution validation set, the
usual choice when nothing extrapolative can be spared. Test is exactly the split's held-out set.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def element_sets(table: pd.DataFrame, split_name: str) -> pd.Series:
    """Each material's set of element symbols, from its ``composition`` (a formula string or Composition)."""
    from pymatgen.core import Composition

    if "composition" not in table.columns:
        raise ValueError(f"{split_name} split: the dataset table has no 'composition' column "
                         f"(columns: {list(table.columns)})")
    return pd.Series([{e.symbol for e in Composition(c).elements} for c in table["composition"]],
                     index=table.index)


def draw_validation(train_pool_ids, fraction: float, seed: int = 0,
                    split_name: str = "split") -> tuple[list[str], list[str]]:
    """Draw a seeded random validation set from a train pool: ``(train_ids, val_ids)``.

    ``fraction`` of the pool (rounded to the nearest integer) becomes val, the rest train; both are non-empty, or
    a ValueError names ``split_name``. The pool is sorted (ids as strings) before the draw, so the result depends
    only on the set of ids and ``seed``, not on their order: ``numpy.random.default_rng(seed).choice(n,
    round(fraction * n), replace=False)`` picks the val positions in the sorted pool. Returned ids are strings,
    each list sorted.

    >>> draw_validation(list("abcdefghij"), 0.2, seed=0)
    (['a', 'b', 'c', 'd', 'e', 'f', 'i', 'j'], ['g', 'h'])
    """
    if not 0 < fraction < 1:
        raise ValueError(f"{split_name} split: val_fraction must be in (0, 1), got {fraction}")
    pool = np.sort(np.asarray(list(map(str, train_pool_ids)), dtype=str))
    if len(set(pool)) != len(pool):
        raise ValueError(f"{split_name} split: the train pool lists a material twice")
    n_val = int(round(fraction * len(pool)))
    if n_val == 0 or n_val >= len(pool):
        raise ValueError(f"{split_name} split: {len(pool)} train-pool materials are too few for "
                         f"val_fraction={fraction}: train and val must both be non-empty")
    is_val = np.zeros(len(pool), dtype=bool)
    is_val[np.random.default_rng(seed).choice(len(pool), size=n_val, replace=False)] = True
    return [str(i) for i in pool[~is_val]], [str(i) for i in pool[is_val]]


def split_train_pool(pool_ids, test_ids, val_fraction: float, seed: int, split_name: str) -> dict[str, list[str]]:
    """Val drawn from the train pool by ``draw_validation`` (seeded, reproducible), test kept as given:
    ``{"train", "val", "test"}``, every part non-empty. Kept under this name for the split kinds that call it."""
    if len(test_ids) == 0:
        raise ValueError(f"{split_name} split: {len(pool_ids)} train-pool and 0 test materials are too few for "
                         f"val_fraction={val_fraction}: train, val and test must all be non-empty")
    train, val = draw_validation(pool_ids, val_fraction, seed, split_name)
    return {"train": train, "val": val, "test": sorted(map(str, test_ids))}
