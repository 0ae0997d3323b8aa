"""One run's files -> its ``metrics.json`` (the metrics of extrapbench.evaluation.metrics), and the checks that
keep a wrong or partial run out of the tables: predictions that do not match the split, a checkpoint that is not
a complete archive (both removed, so that a plain rerun retrains the run) and a run that diverged (kept, flagged).
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from extrapbench.evaluation.metrics import (RUN_ID_KEYS, f1_score, beyond_train_range, detection_scores, error_geometric_mean, mae, r2, release_detection_recall, spearman)

log = logging.getLogger(__name__)

class BadRunFilesError(ValueError):
    """A run's files cannot be what its job wrote: predictions that do not match the split (missing, unexpected or
    repeated ids, a truncated last line), no test rows, or a checkpoint that is not a complete archive. The message
    names the file. The evaluation job removes such a run's outputs, so that a plain rerun retrains it."""


def _check_ids_match(predictions: pd.DataFrame, split_summary: Mapping[str, Any], split_name: str,
                     path: str | os.PathLike | None = None) -> None:
    """The run must have predicted exactly the split's samples; anything else means a wrong or partial run."""
    expected = split_summary.get(split_name, {}).get("ids")
    if expected is None:
        return
    where = f"{path}: " if path is not None else ""
    predicted_ids = predictions["id"].astype(str)
    if predicted_ids.duplicated().any():
        raise BadRunFilesError(f"{where}predictions.csv repeats ids in the {split_name} split")
    missing = set(map(str, expected)) - set(predicted_ids)
    extra = set(predicted_ids) - set(map(str, expected))
    if missing or extra:
        raise BadRunFilesError(
            f"{where}{split_name} predictions do not match the split: {len(missing)} ids missing, "
            f"{len(extra)} unexpected (e.g. {sorted(missing | extra)[:3]})")


def check_predictions(predictions: pd.DataFrame, split_summary: Mapping[str, Any],
                      path: str | os.PathLike | None = None) -> None:
    """Raise BadRunFilesError (naming ``path``) unless ``predictions`` hold exactly the split's test ids, its val
    ids (both listed in the split summary) and, when there are train rows, its train ids, each once, with a finite y_true and y_pred on every row (a
    file cut short loses rows or leaves its last one half empty). Every reader of a run's predictions.csv calls it
    (evaluation, the parity figure, the candidate-range table), so a truncated file is never read as a result."""
    where = f"{path}: " if path is not None else ""
    required = {"id", "split", "y_true", "y_pred"}
    if not required.issubset(predictions.columns):
        raise BadRunFilesError(f"{where}predictions need columns {sorted(required)}, got {list(predictions.columns)}")
    unknown_splits = set(predictions["split"].dropna()) - {"train", "val", "test"}
    if unknown_splits or predictions["split"].isna().any():
        raise BadRunFilesError(f"{where}predictions contain splits other than train/val/test: "
                               f"{sorted(map(str, unknown_splits)) or ['(empty)']}")
    values = predictions[["y_true", "y_pred"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        if bad.sum() == 1 and bad[-1]:  # only the last line is half there: the file was cut short
            raise BadRunFilesError(f"{where}its last row has no y_true / y_pred (a truncated file)")
        # a NaN inside the file is what the run predicted: retraining would not change it
        raise ValueError(f"{where}{int(bad.sum())} rows with a missing or non-finite y_true / y_pred (a broken run: "
                         f"a NaN/inf prediction)")
    for part in ("test", "val", "train"):  # train predictions are optional; val and test ones are not
        rows = predictions[predictions["split"] == part]
        if part != "train" or len(rows):
            _check_ids_match(rows, split_summary, part, path)
    if not (predictions["split"] == "test").any():
        raise BadRunFilesError(f"{where}predictions.csv has no test rows")


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A run's predictions.csv; a file that cannot be parsed raises BadRunFilesError naming it."""
    try:
        return pd.read_csv(path, dtype={"id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BadRunFilesError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from exc


def check_checkpoint(path: str | os.PathLike) -> None:
    """Raise BadRunFilesError unless ``path`` (a run's model.pt, written by torch.save) is a complete zip archive:
    its end-of-archive record and central directory intact and every member's stored size present. Read without
    torch (evaluation runs in the report environment): a deleted file never gets here (Snakemake reruns the run
    whose output is missing), a truncated one fails this."""
    import zipfile

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise BadRunFilesError(f"{path}: not a complete checkpoint ({path.stat().st_size} bytes, no intact zip "
                               f"archive: truncated or overwritten)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            end_of_data = max((m.header_offset + m.compress_size for m in members), default=0)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadRunFilesError(f"{path}: not a complete checkpoint ({exc})") from exc
    if not members or end_of_data > path.stat().st_size:
        raise BadRunFilesError(f"{path}: not a complete checkpoint (its archive lists data beyond the file's end)")


#: A run has diverged when its val or test MAE exceeds this many times the train label range (max - min of the
#: train labels, transformed units: a constant anywhere in the train range errs by less than about one range),
#: or when its history.csv records a train loss above DIVERGED_LOSS or non-finite (losses are on labels
#: standardised on train, so of order 1). Its cell is marked and never bold (extrapbench.report.tables).
DIVERGED_MAE_FACTOR = 10.0
DIVERGED_LOSS = 1e6


def divergence(metrics: Mapping[str, Any], split_summary: Mapping[str, Any],
               history: pd.DataFrame | None = None) -> str | None:
    """Why a run counts as diverged (see DIVERGED_MAE_FACTOR), or None."""
    train = split_summary.get("train") or {}
    spread = (train.get("max", math.nan) - train.get("min", math.nan)) if train else math.nan
    if math.isfinite(spread) and spread > 0:
        for key, label in (("mae", "test MAE"), ("val_mae", "val MAE")):
            value = metrics.get(key)
            if value is not None and math.isfinite(value) and value > DIVERGED_MAE_FACTOR * spread:
                return (f"{label} {value:.4g} is more than {DIVERGED_MAE_FACTOR:g}x the train label range "
                        f"{spread:.4g}")
    if history is not None and "train_loss" in history.columns and len(history):
        losses = pd.to_numeric(history["train_loss"], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(losses) | (np.abs(losses) > DIVERGED_LOSS)
        if bad.any():
            first = int(np.argmax(bad))
            epoch = history["epoch"].iloc[first] if "epoch" in history.columns else first
            return f"train loss {losses[first]:.4g} at epoch {epoch} (above {DIVERGED_LOSS:g} or non-finite)"
    return None


def run_metrics(predictions: pd.DataFrame, split_summary: Mapping[str, Any],
                provenance: Mapping[str, Any], history: pd.DataFrame | None = None,
                path: str | os.PathLike | None = None) -> dict[str, Any]:
    """All metrics of one run, as written to ``metrics.json``.

    ``predictions`` has columns id, split (train/val/test; train rows optional), y_true, y_pred;
    ``split_summary`` is the task's split JSON; ``provenance`` the run's provenance JSON. Test-set metrics: mae,
    gm, spearman, r2; ``val_mae`` on val; detection recall on val ∪ test against the train range; detection
    precision and F1 on train ∪ val ∪ test when the train rows are there (a train sample predicted beyond the
    train range is a false positive), else null; ``detect_recall_release`` the release's recall on val ∪ test
    (null for a split without a side); ``seconds_per_sample`` is the test-set inference time recorded
    by training. ``diverged`` (with ``diverged_reason``) says whether the run diverged (``divergence``: an MAE
    above DIVERGED_MAE_FACTOR x the train label range, or a train loss in ``history`` above DIVERGED_LOSS).
    ``path`` names the predictions file in errors (check_predictions). NaN values are written as JSON null.
    """
    check_predictions(predictions, split_summary, path)
    if provenance.get("task") not in (None, split_summary.get("task")):
        raise ValueError(f"provenance task {provenance.get('task')!r} does not match split "
                         f"{split_summary.get('task')!r}")

    test = predictions[predictions["split"] == "test"]
    val = predictions[predictions["split"] == "val"]
    train = predictions[predictions["split"] == "train"]
    if provenance.get("n_test") is not None and int(provenance["n_test"]) != len(test):
        log.warning("provenance n_test=%s but predictions have %d test rows", provenance["n_test"], len(test))

    metrics: dict[str, Any] = {key: provenance.get(key) for key in RUN_ID_KEYS}
    metrics["task"] = split_summary.get("task", metrics["task"])
    metrics.update({
        "mae": mae(test["y_true"], test["y_pred"]),
        "gm": error_geometric_mean(test["y_true"], test["y_pred"]),
        "spearman": spearman(test["y_true"], test["y_pred"]),
        "r2": r2(test["y_true"], test["y_pred"]),
        "val_mae": mae(val["y_true"], val["y_pred"]),
    })

    side = split_summary.get("side")
    n_false_positive_train = None
    if side in ("top", "bottom"):
        train_min, train_max = split_summary["train"]["min"], split_summary["train"]["max"]
        held_out = predictions[predictions["split"] != "train"]
        detection = detection_scores(held_out["y_true"], held_out["y_pred"], train_min, train_max, side)
        release_recall = release_detection_recall(held_out["y_true"], held_out["y_pred"], side)
        if len(train) > 0:  # precision / F1 need the in-range samples, where the false positives are
            everything = detection_scores(predictions["y_true"], predictions["y_pred"], train_min, train_max, side)
            detection["precision"] = everything["precision"]
            detection["f1"] = f1_score(everything["precision"], detection["recall"])
            n_false_positive_train = int(beyond_train_range(train["y_pred"], train_min, train_max, side).sum())
        else:
            log.info("no train predictions: detection precision and F1 are left out (on val ∪ test alone every "
                     "sample is extrapolative, so precision would be 1 by construction)")
            detection["precision"] = detection["f1"] = math.nan
    else:  # a split that is not a label-range split has no "beyond the train range" side
        log.info("split side is %r: detection scores are not defined", side)
        detection = {"recall": math.nan, "precision": math.nan, "f1": math.nan,
                     "n_extrapolative": None, "n_detected": None, "n_true_positive": None}
        release_recall = math.nan
    metrics.update({
        "detect_recall": detection["recall"],
        "detect_precision": detection["precision"],
        "detect_f1": detection["f1"],
        "detect_recall_release": release_recall,
        "seconds_per_sample": provenance.get("inference_seconds_per_sample"),
        "n_test": int(len(test)),
        "n_val": int(len(val)),
        "n_train_predicted": int(len(train)),
        "n_false_positive_train": n_false_positive_train,
        "n_extrapolative": detection["n_extrapolative"],
        "n_detected": detection["n_detected"],
        "side": side,
        "train_min": split_summary.get("train", {}).get("min"),
        "train_max": split_summary.get("train", {}).get("max"),
    })
    reason = divergence(metrics, split_summary, history)
    metrics["diverged"] = reason is not None
    metrics["diverged_reason"] = reason
    # Training bookkeeping travels along so the summary can report it (e.g. running time per method).
    for key in ("epochs_run", "best_epoch", "wall_time_s"):
        metrics[key] = provenance.get(key)
    # the epoch cap the run trained under (each stage's; best_epoch is the last stage's, counted from 0): a best
    # epoch of max_epochs - 1 means the run was still improving when the cap stopped it (the tables mark it)
    metrics["max_epochs"] = ((provenance.get("config") or {}).get("train") or {}).get("max_epochs")
    return {key: _json_safe(value) for key, value in metrics.items()}


def _json_safe(value: Any) -> Any:
    """NaN/inf become None (JSON null); numpy scalars become Python scalars."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write JSON via a temp file in the same directory and os.replace, so a crash never leaves a
    complete-looking but truncated file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as temp_file:
            json.dump(data, temp_file, indent=2, allow_nan=False)
            temp_file.write("\n")
            temp_file.flush()
            os.fsync(temp_file.fileno())
        # mkstemp makes the file private (0600): give it a new file's usual permissions, like every other output
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)
        os.replace(temp_name, path)
    except BaseException as exc:
        from extrapbench.files import disk_full_error

        full = disk_full_error(exc, path)  # before the partial file goes: it holds the space that ran out
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        if full is not None:
            raise full from exc
        raise


def evaluate_runs(predictions_paths, split_path: str | os.PathLike, provenance_paths,
                  metrics_paths, backbone: str | None = None, checkpoint_paths=None,
                  history_paths=None) -> list[dict[str, Any]]:
    """evaluate_run for several runs of one task (a method's seeds: one job), the split summary read once. The
    lists pair up in order; a failure is logged naming the run's predictions file, and raised. `backbone`
    names the backbone of runs whose provenance has none (a reference predictor's, shared by every backbone).

    A run whose files cannot be what its job wrote (BadRunFilesError: predictions that do not match the split,
    a truncated file, a `checkpoint_paths` model.pt that is not a complete archive) has its predictions.csv and
    provenance.json removed before the error is raised, so that a plain rerun of the workflow trains (or, for a
    reference predictor, predicts) the run again instead of failing here forever. `history_paths` (trained runs'
    history.csv) let `divergence` see the train loss; a diverged run is evaluated, flagged and logged as a
    warning."""
    with open(split_path) as split_file:
        split_summary = json.load(split_file)
    count = len(predictions_paths)
    checkpoint_paths = list(checkpoint_paths) if checkpoint_paths else [None] * count
    history_paths = list(history_paths) if history_paths else [None] * count
    results = []
    for predictions_path, provenance_path, metrics_path, checkpoint_path, history_path in zip(
            predictions_paths, provenance_paths, metrics_paths, checkpoint_paths, history_paths, strict=True):
        try:
            try:
                predictions = read_predictions(predictions_path)
                check_predictions(predictions, split_summary, predictions_path)
                if checkpoint_path is not None:
                    check_checkpoint(checkpoint_path)
            except BadRunFilesError as exc:
                raise BadRunFilesError(f"{exc}; {remove_run_outputs(predictions_path, provenance_path)}") from exc
            with open(provenance_path) as provenance_file:
                provenance = json.load(provenance_file)
            lost = missing_parts(predictions, provenance)
            if lost:
                raise BadRunFilesError(f"{predictions_path}: no {'/'.join(lost)} rows, but {provenance_path} says "
                                       f"the run predicted them (predicted_parts); "
                                       f"{remove_run_outputs(predictions_path, provenance_path)}")
            if provenance.get("backbone") is None and backbone is not None:
                provenance["backbone"] = backbone
            history = pd.read_csv(history_path) if history_path is not None else None
            metrics = run_metrics(predictions, split_summary, provenance, history, predictions_path)
            write_json_atomic(metrics, metrics_path)
        except Exception:
            log.exception("evaluating %s failed", predictions_path)
            raise
        log.info("%s/%s/%s/seed%s: test MAE %.4f, detect recall %s", metrics["task"], metrics["backbone"],
                 metrics["method"], metrics["seed"], metrics["mae"], metrics["detect_recall"])
        if metrics["diverged"]:
            log.warning("%s/%s/%s/seed%s DIVERGED: %s (%s); it stays in the tables, marked and never bold",
                        metrics["task"], metrics["backbone"], metrics["method"], metrics["seed"],
                        metrics["diverged_reason"], predictions_path)
        results.append(metrics)
    return results


def missing_parts(predictions: pd.DataFrame, provenance: Mapping[str, Any]) -> list[str]:
    """The parts a run's provenance says it predicted (``predicted_parts``, recorded since 2026-12-07) that have no
    row in its predictions: check_predictions accepts a file without train rows (selection runs write none), so only
    the provenance can tell that a final run's file lost them."""
    present = set(predictions["split"])
    return [part for part in provenance.get("predicted_parts") or [] if part not in present]


def remove_run_outputs(predictions_path: str | os.PathLike, provenance_path: str | os.PathLike) -> str:
    """Delete a bad run's predictions.csv and provenance.json (outputs of its training job: with one missing, a
    plain rerun retrains the run) and say so, for the error message."""
    removed = []
    for path in (predictions_path, provenance_path):
        if os.path.exists(path):
            os.unlink(path)
            removed.append(str(path))
    what = " and ".join(removed) if removed else "nothing (already gone)"
    return f"removed {what} so that a rerun retrains the run"


def evaluate_run(predictions_path: str | os.PathLike, split_path: str | os.PathLike,
                 provenance_path: str | os.PathLike, metrics_path: str | os.PathLike) -> dict[str, Any]:
    """Read a run's predictions, the task's split summary and the run's provenance; write metrics.json."""
    return evaluate_runs([predictions_path], split_path, [provenance_path], [metrics_path])[0]
