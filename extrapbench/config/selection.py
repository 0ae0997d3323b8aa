"""Hyper-parameter selection (docs/benchmark.md): train every grid point on one seed, keep the lowest val MAE.

The grid is the product of the config's `selection.grid` (applies to every method: batch size, learning rate,
weight decay, ...) and `selection.methods.<method>` (that method's own, e.g. MEX's lambda_abs). A grid key that
is a training setting (see TrainConfig) overrides `train`; any other key is a method hyper-parameter. Selection
reads only the val rows of each grid point's predictions: the test set never influences it.
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, List

import numpy as np
import pandas as pd

from extrapbench.config.train_settings import train_keys




def grid_points(common_grid: Dict[str, list] | None, method_grid: Dict[str, list] | None) -> List[Dict[str, Any]]:
    """Every combination, in a fixed order (keys sorted, values in config order); point i is 'p{i:03d}'."""
    grid = {**(common_grid or {}), **(method_grid or {})}
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def point_id(index: int) -> str:
    return f"p{index:03d}"


def apply_point(train_params: Dict[str, Any], method_params: Dict[str, Any],
                point: Dict[str, Any]) -> tuple[Dict[str, Any], Dict[str, Any]]:
    """(train settings, method hyper-parameters) with the grid point's values in place."""
    keys = train_keys()
    train = {**train_params, **{k: v for k, v in point.items() if k in keys}}
    method = {**method_params, **{k: v for k, v in point.items() if k not in keys}}
    return train, method


def read_grid_predictions(paths) -> pd.DataFrame:
    """The predictions of train_grid_point jobs (a `point` column names each row's grid point)."""
    return pd.concat([pd.read_csv(path, dtype={"id": str, "point": str}) for path in paths], ignore_index=True)


def _val_rows(predictions_csv) -> pd.DataFrame:
    """The val rows of a predictions file; every other row is dropped as the file is read (in chunks), so test
    predictions can never influence a selection."""
    rows = [chunk[chunk["split"] == "val"]
            for chunk in pd.read_csv(predictions_csv, dtype={"id": str, "point": str}, chunksize=100_000)]
    val = pd.concat(rows)
    if val.empty:
        raise ValueError(f"{predictions_csv}: no val predictions to select on")
    return val


def _mae(rows: pd.DataFrame) -> float:
    return float(np.abs(rows["y_true"] - rows["y_pred"]).mean())


def val_maes(predictions_csvs) -> Dict[str, float]:
    """{grid point: val MAE} from train_grid_point predictions (val rows only, see `_val_rows`)."""
    maes: Dict[str, float] = {}
    for path in predictions_csvs:
        for point, part in _val_rows(path).groupby("point", sort=False):
            maes[point] = _mae(part)
    return maes


def val_mae(predictions_csv) -> float:
    """Val MAE of one run's predictions.csv (val rows only, see `_val_rows`)."""
    return _mae(_val_rows(predictions_csv))


def select(points: List[Dict[str, Any]], val_maes: List[float]) -> int:
    """Index of the lowest val MAE (the first of equals, i.e. the earlier grid point)."""
    if len(points) != len(val_maes) or not points:
        raise ValueError("select: need one val MAE per grid point")
    return int(np.argmin(val_maes))
