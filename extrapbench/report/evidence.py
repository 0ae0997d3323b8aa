"""How much training stands behind a cell: the marks for runs whose best-validation checkpoint came too early or
at the epoch cap, and the two-seed caveat of a paired test's verdict.

Every run records ``best_epoch`` (the epoch of the checkpoint that predicts, counted from 0; for a method with
several stages, e.g. ANE, the last stage's), ``epochs_run`` and ``max_epochs`` (the epoch cap of its training
settings, ``config.train.max_epochs`` of its provenance) in ``metrics.json``. Two cases weaken what a cell says:

* **best at epoch ≤ EARLY_BEST_EPOCH** (:data:`EARLY_MARK`): validation MAE was lowest after at most three
  epochs and never improved after, so the predictions come from a model that had barely trained; beating (or
  trailing) it says little about the method.
* **best at the cap** (:data:`CAP_MARK`): the best checkpoint is the last epoch the cap allowed
  (``best_epoch == max_epochs - 1``), so the run was still improving when it was stopped; with more epochs the
  cell, and its place against the others, may change.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: best_epoch (counted from 0) at or below this: the best checkpoint is from one of the first three epochs
EARLY_BEST_EPOCH = 2
EARLY_MARK = "◁"
CAP_MARK = "▷"
#: appended to a paired test's verdict that rests on two seeds only (one degree of freedom)
TWO_SEED_MARK = "?"
#: the LaTeX form of each mark (pdflatex has no text-mode triangles)
LATEX_MARKS = {EARLY_MARK: r"$^{\triangleleft}$", CAP_MARK: r"$^{\triangleright}$"}

#: the per-(task, backbone, method) counts :func:`epoch_counts` adds to a summary
COUNT_COLUMNS = ("n_best_early", "n_best_at_cap", "n_epochs_known", "n_cap_known")


def epoch_flags(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run (``runs``: one row per run, extrapbench.report.summary.collect): ``best_early`` and
    ``best_at_cap`` as floats (1.0 / 0.0, NaN where the run did not record what it takes: a reference predictor,
    or a metrics.json written before ``max_epochs`` was recorded)."""
    best = pd.to_numeric(runs["best_epoch"], errors="coerce") if "best_epoch" in runs.columns \
        else pd.Series(np.nan, index=runs.index)
    cap = pd.to_numeric(runs["max_epochs"], errors="coerce") if "max_epochs" in runs.columns \
        else pd.Series(np.nan, index=runs.index)
    best = best.where(best >= 0)  # -1: no epoch ran (never written by a finished run)
    early = (best <= EARLY_BEST_EPOCH).astype(float).where(best.notna())
    at_cap = (best >= cap - 1).astype(float).where(best.notna() & cap.notna())
    return pd.DataFrame({"best_early": early, "best_at_cap": at_cap}, index=runs.index)


def epoch_counts(group: pd.DataFrame) -> dict[str, int]:
    """How many of a cell's runs (``group``: its rows of the runs) had their best checkpoint early / at the cap,
    and of how many that is known."""
    flags = epoch_flags(group)
    return {"n_best_early": int(flags["best_early"].sum()), "n_best_at_cap": int(flags["best_at_cap"].sum()),
            "n_epochs_known": int(flags["best_early"].notna().sum()),
            "n_cap_known": int(flags["best_at_cap"].notna().sum())}


def marks(n_early, n_at_cap) -> str:
    """The marks a cell gets: EARLY_MARK when at least one of its seeds had its best checkpoint early, CAP_MARK
    when at least one had it at the cap ("" for none, or NaN counts)."""
    text = ""
    if not pd.isna(n_early) and n_early > 0:
        text += EARLY_MARK
    if not pd.isna(n_at_cap) and n_at_cap > 0:
        text += CAP_MARK
    return text


def epoch_notes(n_early: int, n_at_cap: int, n_known: int, n_cap_known: int, where: str = "this table") -> list[str]:
    """The notes that explain the marks and count them over ``where``'s runs; [] when no run of it recorded a
    best epoch."""
    if not n_known:
        return []
    counts = f"best checkpoint of the {n_known} method runs in {where}: {n_early} of {n_known} at epoch " \
             f"≤ {EARLY_BEST_EPOCH} ({EARLY_MARK})"
    counts += (f", {n_at_cap} of {n_cap_known} at the epoch cap ({CAP_MARK})." if n_cap_known
               else "; the epoch cap is not recorded (metrics.json without max_epochs: re-evaluate the runs).")
    notes = [counts]
    if n_early:
        notes.append(f"{EARLY_MARK}: at least one seed kept its best-validation checkpoint from one of its first "
                     f"{EARLY_BEST_EPOCH + 1} epochs (best_epoch ≤ {EARLY_BEST_EPOCH}, counted from 0): its "
                     "validation MAE never improved after, so the cell is a barely trained model, weak evidence "
                     "for or against the method.")
    if n_at_cap:
        notes.append(f"{CAP_MARK}: at least one seed had its best checkpoint at the last epoch the cap allowed "
                     "(best_epoch = max_epochs - 1): still improving when it was stopped, so more epochs may "
                     "change the cell and its place against the others.")
    return notes


TWO_SEED_NOTE = (f"{TWO_SEED_MARK} after a verdict (beats?, trails?, ≈?): the test rests on two seeds, one degree "
                 "of freedom; indicative only. Three seeds or more give plain verdicts.")
