"""Held-out space groups: test = the materials whose crystal has one of the given space groups, train = all
others. The worked example of a split kind added in one file (docs/extending.md, "Add a split kind"): register a
function ``(table, **params) -> {"train", "val", "test"}`` and name it in a task's ``split``.

Space groups come from spglib through pymatgen's SpacegroupAnalyzer at ``symprec`` (Å); a structure spglib
cannot analyse is an error naming it. Val: see extrapbench.splits.composition.
"""
from __future__ import annotations

import warnings

import pandas as pd

from extrapbench.registry import SPLITS
from extrapbench.splits.composition import split_train_pool


def space_group_numbers(table: pd.DataFrame, symprec: float = 0.1) -> pd.Series:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if "structure" not in table.columns:
        raise ValueError("held_out_space_group split: the dataset has no 'structure' column (composition-only "
                         "datasets have no space group)")
    numbers = {}
    with warnings.catch_warnings():
        # spglib warns about its own error-handling switch on every call pymatgen makes
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        for material, structure in table["structure"].items():
            numbers[material] = _number(material, structure, symprec, SpacegroupAnalyzer)
    return pd.Series(numbers)


def _number(material, structure, symprec, SpacegroupAnalyzer) -> int:
    try:
        return SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number()
    except Exception as exc:  # spglib gives up on some distorted cells
        raise ValueError(f"held_out_space_group split: no space group for {material!r} at symprec={symprec} "
                         f"({type(exc).__name__}: {exc})") from exc


@SPLITS.register("held_out_space_group")
def held_out_space_group_split(table: pd.DataFrame, space_groups, symprec: float = 0.1,
                               val_fraction: float = 0.15, seed: int = 0) -> dict[str, list[str]]:
    held_out = {int(n) for n in space_groups}
    if not held_out or not all(1 <= n <= 230 for n in held_out):
        raise ValueError(f"held_out_space_group split: space_groups must be numbers 1-230, got {space_groups!r}")
    is_test = space_group_numbers(table, symprec).reindex(table.index).isin(held_out).to_numpy()
    return split_train_pool(table.index[~is_test], table.index[is_test], val_fraction, seed,
                            "held_out_space_group")


held_out_space_group_split.tie_rule = "none: membership is decided by space group, not by label"
