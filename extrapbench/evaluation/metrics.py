"""Evaluation metrics (docs/benchmark.md, "Metrics"); the per-run evaluation that writes ``metrics.json`` is
extrapbench.evaluation.runs.

All metric functions take 1-D arrays of true and predicted labels in transformed-target units (the units the
split files and ``predictions.csv`` use) and return plain Python floats.

Conventions chosen here, because neither paper states them:

* Every metric raises ``ValueError`` on arrays of different length or on non-finite values: a NaN prediction
  means a broken run, and a metric that silently became NaN would quietly drop out of the paper tables.
* An empty input gives NaN (there is nothing to measure).
* ``spearman`` returns NaN when either array is constant (the rank correlation is undefined; scipy would warn
  and return NaN too). ``r2`` returns NaN when the true labels are constant (zero total variance).
* Extrapolative-sample detection (``detection_scores``) uses strict inequalities against the train range and
  treats degenerate cases as documented in its docstring. In ``extrapbench.evaluation.runs.run_metrics`` recall
  is measured on val ∪ test (the paper's Figure 5) and precision / F1 on train ∪ val ∪ test, where a train sample
  predicted beyond the train range is a false positive; on val ∪ test alone every sample of a range split is
  extrapolative, so precision would be 1 by construction. Without train predictions precision and F1 are null.
* ``detect_recall_release`` is the recall as the MEX authors' release computes it (``release_detection_recall``),
  next to ours: on val ∪ test, against the held-out labels' inner edge instead of the train range.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: GM's stand-in for an exactly-zero error, which would send log() to -inf. As the MEX authors' release
#: (compute_res_metric.py) does, only exact zeros are replaced: an error between 0 and 1e-10 is kept as it is (a
#: floor of max(|y - ŷ|, 1e-10) would raise it to 1e-10).
GM_ERROR_FLOOR = 1e-10

#: Keys of ``metrics.json`` besides the run identifiers, in the order they are written.
METRIC_KEYS = (
    "mae", "gm", "spearman", "r2", "val_mae",
    "detect_recall", "detect_precision", "detect_f1", "detect_recall_release",
    "seconds_per_sample",
)
RUN_ID_KEYS = ("task", "backbone", "method", "seed")

#: One line each, for the tables' notes: what recall and precision are measured on.
RECALL_DEFINITION = ("recall: share of the val ∪ test samples (all beyond the train range on the task's side) whose "
                     "prediction also lies beyond the train range on that side.")
RELEASE_RECALL_DEFINITION = ("release recall (the MEX authors' code): share of all val ∪ test samples predicted below "
                             "the largest val ∪ test label (bottom tasks) or above the smallest (top tasks).")
PRECISION_DEFINITION = ("precision: share of the train ∪ val ∪ test samples predicted beyond the train range that "
                        "truly lie beyond it (a train sample predicted there is a false positive); F1 = 2PR/(P+R).")


# ----------------------------------------------------------------------------------------------------------
# Point metrics
# ----------------------------------------------------------------------------------------------------------

def _validated_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ValueError("y_true and y_pred must be finite (a NaN/inf prediction means a broken run)")
    return y_true, y_pred


def mae(y_true, y_pred) -> float:
    """Mean absolute error, mean |y - ŷ|."""
    y_true, y_pred = _validated_pair(y_true, y_pred)
    if y_true.size == 0:
        return math.nan
    return float(np.mean(np.abs(y_true - y_pred)))


def error_geometric_mean(y_true, y_pred, floor: float = GM_ERROR_FLOOR) -> float:
    """Geometric mean of the absolute errors, exp(mean(log(e))), e = |y - ŷ| with exact zeros replaced by
    ``floor`` (1e-10), as the MEX authors' release computes it; nonzero errors below the floor are kept."""
    y_true, y_pred = _validated_pair(y_true, y_pred)
    if y_true.size == 0:
        return math.nan
    errors = np.abs(y_true - y_pred)
    errors = np.where(errors == 0.0, floor, errors)
    return float(np.exp(np.mean(np.log(errors))))


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks, ties given their average rank (what
    scipy.stats.spearmanr computes; tests/test_metrics.py checks the two agree). pandas' ranks, not scipy:
    importing scipy.stats costs an evaluation job 0.9 s, more than the job's work.

    NaN when fewer than two samples or when either array is constant (e.g. a collapsed model).
    """
    y_true, y_pred = _validated_pair(y_true, y_pred)
    if y_true.size < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return math.nan
    ranks_true = pd.Series(y_true).rank(method="average").to_numpy()
    ranks_pred = pd.Series(y_pred).rank(method="average").to_numpy()
    return float(np.corrcoef(ranks_true, ranks_pred)[0, 1])


def r2(y_true, y_pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (can be negative); NaN when y_true is constant."""
    y_true, y_pred = _validated_pair(y_true, y_pred)
    if y_true.size == 0:
        return math.nan
    total_sum_of_squares = float(np.sum((y_true - y_true.mean()) ** 2))
    if total_sum_of_squares == 0.0:
        return math.nan
    residual_sum_of_squares = float(np.sum((y_true - y_pred) ** 2))
    return 1.0 - residual_sum_of_squares / total_sum_of_squares


# ----------------------------------------------------------------------------------------------------------
# Extrapolative-sample detection
# ----------------------------------------------------------------------------------------------------------

def beyond_train_range(values, train_min: float, train_max: float, side: str) -> np.ndarray:
    """Boolean mask: value lies strictly beyond the train label range on ``side`` ("top" or "bottom")."""
    values = np.asarray(values, dtype=float)
    if side == "top":
        return values > train_max
    if side == "bottom":
        return values < train_min
    raise ValueError(f"side must be 'top' or 'bottom', got {side!r}")


def detection_scores(y_true, y_pred, train_min: float, train_max: float, side: str) -> dict[str, float]:
    """Recall, precision and F1 of detecting extrapolative samples from the model's predictions.

    Pass the samples to score (``run_metrics`` passes val ∪ test for recall and train ∪ val ∪ test for
    precision, so that in-range samples can be false positives). A sample is *truly extrapolative* when its true
    label lies strictly beyond the train range on the task's side (y > train_max for "top", y < train_min for
    "bottom"); for the range splits (extrapbench/splits/range.py) every val/test sample is. It is *detected* when
    its prediction lies strictly beyond the train range on that side. The paper's Figure 5 reports recall.

    Degenerate cases (documented choices):

    * no truly extrapolative sample: recall is NaN (undefined: there is nothing to find), and so is F1;
    * nothing predicted beyond the train range: precision is 0 (the detector made no correct claim); F1 is
      0 when recall is defined;
    * precision + recall == 0: F1 is 0.

    Also returns the counts: ``n_extrapolative`` (true positives + false negatives), ``n_detected``
    (predicted positives) and ``n_true_positive``.
    """
    y_true, y_pred = _validated_pair(y_true, y_pred)
    is_extrapolative = beyond_train_range(y_true, train_min, train_max, side)
    is_detected = beyond_train_range(y_pred, train_min, train_max, side)

    n_extrapolative = int(is_extrapolative.sum())
    n_detected = int(is_detected.sum())
    n_true_positive = int((is_extrapolative & is_detected).sum())

    recall = n_true_positive / n_extrapolative if n_extrapolative > 0 else math.nan
    precision = n_true_positive / n_detected if n_detected > 0 else 0.0
    f1 = f1_score(precision, recall)
    return {
        "recall": float(recall),
        "precision": float(precision),
        "f1": float(f1),
        "n_extrapolative": n_extrapolative,
        "n_detected": n_detected,
        "n_true_positive": n_true_positive,
    }


def release_detection_recall(y_true, y_pred, side: str) -> float:
    """Detection recall as the MEX authors' release computes it (``OCPTrainer.test_validation``): over the samples
    passed (``run_metrics`` passes val ∪ test, as the release does), the share whose prediction lies strictly
    below the largest of their true labels on a bottom task, strictly above the smallest on a top task.

    It differs from ``detection_scores``' recall in its threshold, the inner edge of the held-out labels rather
    than the train range's (they coincide when a label tied at the cut is in both parts, ``split_ties:
    both_sides``), and in its denominator, every sample passed rather than the truly extrapolative ones. NaN on no
    samples."""
    y_true, y_pred = _validated_pair(y_true, y_pred)
    if side not in ("top", "bottom"):
        raise ValueError(f"side must be 'top' or 'bottom', got {side!r}")
    if y_true.size == 0:
        return math.nan
    if side == "bottom":
        return float(np.mean(y_pred < y_true.max()))
    return float(np.mean(y_pred > y_true.min()))


def f1_score(precision: float, recall: float) -> float:
    """2PR / (P + R); NaN when either is undefined, 0 when both are 0."""
    if math.isnan(recall) or math.isnan(precision):
        return math.nan
    if precision + recall == 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)
