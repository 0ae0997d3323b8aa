"""Which cells of a ranked table are bold (the best of a backbone's rows) and italic (the second): only where seed
noise cannot have made them so. extrapbench.report.tables uses it for the paper-style tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from extrapbench.report.compare import tie_width


def _separated(better: float, worse: float, spread: float) -> bool:
    """Seed noise cannot swap the two: their means differ by more than ``spread`` (the larger std; 0 when no
    std is known, e.g. a single seed or the average-rank column), and by more than the report's tie width
    (:mod:`extrapbench.report.compare`: a difference in the last digits is no win)."""
    return abs(better - worse) > max(0.0 if pd.isna(spread) else spread, float(tie_width(better, worse)))


def mark_best(values: pd.Series, higher_is_better: bool, stds: pd.Series | None = None) -> tuple[set, set]:
    """Index labels to mark best (bold) and second (italics) among ``values`` (NaN skipped; ties share a mark).

    Best: the best distinct value, when at least two rows compete and it beats the next value by more than
    either's std over seeds. Second: the next distinct value, when at least three rows compete, the best is
    marked, and it beats the value after it likewise (with two rows "second" would be "last")."""
    present = values.dropna()
    if len(present) < 2:
        return set(), set()
    stds = pd.Series(np.nan, index=present.index) if stds is None else stds.reindex(present.index)
    distinct = sorted(present.unique(), reverse=higher_is_better)
    spread = {v: stds[present == v].max() for v in distinct}

    def holds(i: int) -> bool:
        if i + 1 >= len(distinct):
            return False
        widest = max([0.0] + [x for x in (spread[distinct[i]], spread[distinct[i + 1]]) if not pd.isna(x)])
        return _separated(distinct[i], distinct[i + 1], widest)
    best = set(present.index[present == distinct[0]]) if holds(0) else set()
    second = (set(present.index[present == distinct[1]])
              if best and len(present) >= 3 and holds(1) else set())
    return best, second


MARKS_NOTE = ("bold: the best of the backbone's rows in that column, only where it beats the next one by more than "
              "either's std over seeds; italics: the second best, likewise, with at least three rows.")
