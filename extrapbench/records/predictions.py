"""Predictions made elsewhere: read them, check them against the split, and refuse what cannot be scored.

A prediction is an id of the split and a y_pred, nothing else: the truth always comes from the split. The test
part is required, every one of its ids; val and train rows are optional, but a part that is given is given whole
(its detection metrics need every member). Refused, with one line that names the first few ids and how many:
ids missing from a given part, ids the split does not hold, an id given twice, and a y_pred that is not a finite
number. A ``y_true`` column (or any other) is ignored with a warning, never read.
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Any, Dict, Iterable, Mapping

import numpy as np
import pandas as pd

from extrapbench.naming import PARTS
from extrapbench.records.task_data import TaskSplit

#: the part every predictions file must cover whole
REQUIRED_PART = "test"


class PredictionsError(ValueError):
    """Predictions that cannot be scored; the message is one line naming the source, the ids and their count."""


class IgnoredColumnWarning(UserWarning):
    """A predictions column other than id / y_pred (y_true above all) that is not read."""


def first_ids(ids: Iterable[Any], n: int = 3) -> str:
    """The first `n` ids and how many more: "a, b, c and 4 more"."""
    ids = [str(i) for i in ids]
    shown = ", ".join(ids[:n])
    return shown + (f" and {len(ids) - n} more" if len(ids) > n else "")


def read_predictions_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A predictions file (CSV with columns id, y_pred); floats read back exactly as written."""
    try:
        return pd.read_csv(path, dtype={"id": str}, float_precision="round_trip", keep_default_na=False,
                           na_values=[""])
    except FileNotFoundError:
        raise PredictionsError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PredictionsError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None


def predictions_frame(predictions: Any, source: str = "predictions") -> pd.DataFrame:
    """(id, y_pred) from a DataFrame with columns id and y_pred (or indexed by id), a Series id -> y_pred, or a
    mapping id -> y_pred. y_pred is kept as given (text stays text, refused by check_predictions)."""
    if isinstance(predictions, pd.DataFrame):
        frame = predictions
        if "id" not in frame.columns and frame.index.name == "id":
            frame = frame.reset_index()
        missing = [column for column in ("id", "y_pred") if column not in frame.columns]
        if missing:
            raise PredictionsError(f"{source}: needs columns id and y_pred; it has {list(map(str, frame.columns))}")
        ignored = [str(c) for c in frame.columns if c not in ("id", "y_pred")]
        if "y_true" in ignored:
            warnings.warn(f"{source}: column 'y_true' ignored: the truth comes from the split, never from the "
                          f"predictions", IgnoredColumnWarning, stacklevel=3)
        others = [c for c in ignored if c != "y_true"]
        if others:
            warnings.warn(f"{source}: column(s) {others} ignored: only id and y_pred are read", IgnoredColumnWarning,
                          stacklevel=3)
        return pd.DataFrame({"id": frame["id"].to_numpy(), "y_pred": frame["y_pred"].to_numpy()})
    if isinstance(predictions, pd.Series):
        return pd.DataFrame({"id": predictions.index.to_numpy(), "y_pred": predictions.to_numpy()})
    if isinstance(predictions, Mapping):
        return pd.DataFrame({"id": list(predictions.keys()), "y_pred": list(predictions.values())})
    raise TypeError(f"{source}: predictions must be a mapping id -> y_pred, a pandas Series indexed by id or a "
                    f"DataFrame with columns id and y_pred, got {type(predictions).__name__}")


def _number(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def check_predictions(frame: pd.DataFrame, split: TaskSplit, source: str = "predictions") -> Dict[str, Any]:
    """The predictions of `frame` (id, y_pred) checked against `split`: {"parts": the parts given (test, then
    val / train when given), "y_pred": {id: float}}. Raises PredictionsError, one line naming every problem."""
    ids = frame["id"].map(lambda v: str(v).strip())
    values = np.array([_number(v) for v in frame["y_pred"]], dtype=float)
    task = split.task.id
    problems = []
    repeated = ids[ids.duplicated(keep="first")].unique()
    if len(repeated):
        problems.append(f"{len(repeated)} id(s) given more than once: {first_ids(repeated)}")
    members = split.part_of()
    unknown = [i for i in dict.fromkeys(ids) if i not in members]
    if unknown:
        problems.append(f"{len(unknown)} id(s) not in the split of task {task}: {first_ids(unknown)}")
    bad = [i for i, v in zip(ids, values) if not math.isfinite(v)]
    if bad:
        problems.append(f"{len(bad)} y_pred value(s) not a finite number (NaN, inf, empty or text), ids: "
                        f"{first_ids(bad)}")
    given = set(ids)
    parts = [REQUIRED_PART]
    for part in PARTS:
        part_ids = split.ids(part)
        if part != REQUIRED_PART:
            # a part is given when any of its own members is (a material tied into test too does not count)
            own = [i for i in part_ids if REQUIRED_PART not in members[i]]
            if not any(i in given for i in own):
                continue
            parts.append(part)
        absent = [i for i in part_ids if i not in given]
        if absent:
            whole = "" if part == REQUIRED_PART else f" (the {part} part is optional, but whole when given)"
            problems.append(f"{len(absent)} of the {len(part_ids)} {part} ids missing{whole}: {first_ids(absent)}")
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems))
    order = [part for part in PARTS if part in parts]
    return {"parts": order, "y_pred": dict(zip(ids, values.tolist()))}


def prediction_rows(split: TaskSplit, y_pred: Mapping[str, float], parts: Iterable[str], units: str) -> pd.DataFrame:
    """(id, split, y_true, y_pred) for every member of `parts`, the truth from the split in `units`: the frame
    extrapbench.evaluation.runs.run_metrics scores."""
    frames = []
    for part in [p for p in PARTS if p in set(parts)]:
        ids = split.ids(part)
        frames.append(pd.DataFrame({"id": ids, "split": part, "y_true": split.truth(ids, units),
                                    "y_pred": [float(y_pred[i]) for i in ids]}))
    return pd.concat(frames, ignore_index=True)
