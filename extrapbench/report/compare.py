"""When one number beats another in the report: the one definition every "beats / trails / equal" of
:mod:`extrapbench.report` goes through (the † of the paper tables, the skill table's count, the beats table's
verdicts, the paired tests' direction, the ablations' direction, bold / italics, the colours of the MAE figure).

Two values closer than :data:`RELATIVE_TOLERANCE` times the larger magnitude are a **tie**: neither beats the
other. Without it a method whose predictions equal a constant reference's up to float rounding (e.g. every train
label equal, so that the model, the train mean and the train edge all predict one value) would "beat" or "trail"
the constant by one unit in the last place. 1e-6 lies far below any difference the tables print (3 decimals on
MAEs of order 0.1 to 1, a relative 1e-3) and far above float32 rounding of a prediction (about 6e-8 relative) and
the order in which a mean is summed.
"""
from __future__ import annotations

import math

import numpy as np

#: values whose difference is at most this share of the larger magnitude are a tie (neither beats the other)
RELATIVE_TOLERANCE = 1e-6

TOLERANCE_NOTE = (f"A difference within {RELATIVE_TOLERANCE:g} of the larger value (relative) is a tie: neither "
                  "beats the other.")


def tie_width(a, b):
    """How close ``a`` and ``b`` (scalars or arrays) must be to tie: RELATIVE_TOLERANCE x the larger magnitude."""
    return RELATIVE_TOLERANCE * np.maximum(np.abs(a), np.abs(b))


def ties(a, b):
    """``a`` and ``b`` tie (elementwise for arrays): ``|a - b| <= tie_width(a, b)``; NaN ties nothing."""
    return np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) <= tie_width(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def beats(mine: float, theirs: float, higher_is_better: bool = False) -> bool:
    """``mine`` is better than ``theirs`` by more than the tie width (lower is better unless
    ``higher_is_better``); False for a tie or a NaN."""
    if mine is None or theirs is None or math.isnan(mine) or math.isnan(theirs):
        return False
    difference = (mine - theirs) if higher_is_better else (theirs - mine)
    return bool(difference > tie_width(mine, theirs))


def direction(mine: float, theirs: float, higher_is_better: bool = False) -> str | None:
    """"better", "worse" or "equal" (a tie) of ``mine`` against ``theirs``; None where either is NaN."""
    if mine is None or theirs is None or math.isnan(mine) or math.isnan(theirs):
        return None
    if beats(mine, theirs, higher_is_better):
        return "better"
    if beats(theirs, mine, higher_is_better):
        return "worse"
    return "equal"
