"""Held-out elements (paper B's HOIP-HIGH / HOIP-LOW): test = the materials that contain the held-out elements,
train = all others, so no training material has that chemistry.

``match="all"`` holds out materials containing *every* listed element, ``match="any"`` those containing at least
one. The authors' split files need "all": HOIP-HIGH's test set is exactly the 97 materials with both Ge and F,
HOIP-LOW's the 117 with both Pb and I, and materials with only one of the two are in their train sets (see
data/PROVENANCE.md; tests/test_ane_splits.py checks it). Paper B's text words it as "containing Ge or F"; we
follow the paper's data. Val: see extrapbench.splits.composition.
"""
from __future__ import annotations

import pandas as pd

from extrapbench.registry import SPLITS
from extrapbench.splits.composition import element_sets, split_train_pool


@SPLITS.register("held_out_elements")
def held_out_elements_split(table: pd.DataFrame, elements, match: str = "all", val_fraction: float = 0.15,
                            seed: int = 0) -> dict[str, list[str]]:
    from pymatgen.core import Element

    held_out = {str(e) for e in elements}
    if not held_out:
        raise ValueError("held_out_elements split: 'elements' is empty; list the element symbols to hold out")
    for symbol in held_out:
        if not Element.is_valid_symbol(symbol):
            raise ValueError(f"held_out_elements split: {symbol!r} in 'elements' is not an element symbol")
    if match not in ("all", "any"):
        raise ValueError(f"held_out_elements split: match must be 'all' or 'any', got {match!r}")
    sets = element_sets(table, "held_out_elements")
    is_test = sets.map(held_out.issubset if match == "all" else (lambda s: bool(s & held_out)))
    return split_train_pool(table.index[~is_test.to_numpy()], table.index[is_test.to_numpy()], val_fraction, seed,
                            "held_out_elements")


held_out_elements_split.tie_rule = "none: membership is decided by composition, not by label"
