"""What a run reads, without torch: the task's split and the Magpie features of its members (the training runs of
extrapbench.training.run and the reference predictors of extrapbench.training.reference_run share them)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd

from extrapbench.naming import PARTS



def load_split(split_json: str | os.PathLike, split_csv: str | os.PathLike) -> tuple[dict, pd.DataFrame]:
    summary = json.loads(Path(split_json).read_text())
    table = pd.read_csv(split_csv, dtype={"id": str}).set_index("id")
    return summary, table


def ids_by_part(summary: dict) -> Dict[str, list]:
    return {part: list(map(str, summary[part]["ids"])) for part in PARTS}


def part_targets(table: pd.DataFrame, ids: Dict[str, list]) -> Dict[str, np.ndarray]:
    """Each part's targets; with `split_ties: both_sides` a tied material has a row in each of its two parts, one
    target per id."""
    target = table.loc[~table.index.duplicated(), "target"]
    return {part: target.loc[part_ids].to_numpy(float) for part, part_ids in ids.items()}


def standardised_features(features_csv: str | os.PathLike, ids: Dict[str, list]) -> Dict[str, np.ndarray]:
    """Magpie features of each part, standardised with train statistics (constant columns left at 0), float32."""
    features = pd.read_csv(features_csv, index_col=0, dtype={0: str})  # ids as written: "0001" stays "0001"
    features.index = features.index.astype(str)
    return standardised(features, ids)


def standardised(features: pd.DataFrame, ids: Dict[str, list]) -> Dict[str, np.ndarray]:
    """Each part's rows of `features` (one row per material id), standardised with train statistics (constant
    columns left at 0), float32."""
    train = features.loc[ids["train"]]
    mean, std = train.mean(), train.std(ddof=0).replace(0.0, 1.0)
    scaled = ((features - mean) / std).astype(np.float32)
    return {part: scaled.loc[part_ids].to_numpy() for part, part_ids in ids.items()}
