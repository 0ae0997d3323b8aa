"""What the composition-based split kinds share: each material's element set, and a validation set drawn from the
train pool.

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


def split_train_pool(pool_ids, test_ids, val_fraction: float, seed: int, split_name: str) -> dict[str, list[str]]:
    """Draw val from the train pool (seeded, reproducible), keep test as given."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"{split_name} split: val_fraction must be in (0, 1), got {val_fraction}")
    pool = np.sort(np.asarray(pool_ids, dtype=str))
    n_val = int(round(val_fraction * len(pool)))
    if len(test_ids) == 0 or n_val == 0 or n_val >= len(pool):
        raise ValueError(f"{split_name} split: {len(pool)} train-pool and {len(test_ids)} test materials are too "
                         f"few for val_fraction={val_fraction}: train, val and test must all be non-empty")
    is_val = np.zeros(len(pool), dtype=bool)
    is_val[np.random.default_rng(seed).choice(len(pool), size=n_val, replace=False)] = True
    return {"train": list(pool[~is_val]), "val": list(pool[is_val]), "test": sorted(map(str, test_ids))}
