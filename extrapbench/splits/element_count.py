"""Element count (paper B's MPS tasks): train on compounds with few elements, test on those with more.

Materials with at most ``train_max_elements`` distinct elements form the train pool, those with at least
``test_min_elements`` the test set; anything in between is left out of both (nothing, with the defaults 2 and
3). The authors' MPS split is exactly the defaults: every unary and binary compound trains, every compound with
3 or more elements (ternary, quaternary, one quinary) is test (tests/test_ane_splits.py checks it). Val: see
extrapbench.splits.composition.
"""
from __future__ import annotations

import pandas as pd

from extrapbench.registry import SPLITS
from extrapbench.splits.composition import element_sets, split_train_pool


@SPLITS.register("element_count")
def element_count_split(table: pd.DataFrame, train_max_elements: int = 2, test_min_elements: int = 3,
                        val_fraction: float = 0.15, seed: int = 0) -> dict[str, list[str]]:
    if not 1 <= train_max_elements < test_min_elements:
        raise ValueError(f"element_count split: need 1 <= train_max_elements < test_min_elements, got "
                         f"{train_max_elements} and {test_min_elements}")
    counts = element_sets(table, "element_count").map(len).to_numpy()
    return split_train_pool(table.index[counts <= train_max_elements], table.index[counts >= test_min_elements],
                            val_fraction, seed, "element_count")


element_count_split.tie_rule = "none: membership is decided by the number of elements, not by label"
