"""MEX's candidate-range ablation: which range each MEX entry searched, the share of test labels outside it (from
the runs' predictions), its test MAE and the difference to the reference range (the release's fixed prior,
``candidate_range: prior``; else ``train_margin``)."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.format import fmt, fmt_range
from extrapbench.report.io import PathLike, read_json
from extrapbench.report.summary import MISSING
from extrapbench.report.text_table import TextTable
from extrapbench.report.variants import mex_entries, read_run_provenance

#: MEX's default candidate range (``extrapbench.methods.mex``): the release's fixed prior.
DEFAULT_CANDIDATE_RANGE = "prior"
#: Leak-free range kinds, in the order a reference entry for Δ is looked for among a task's MEX entries.
REFERENCE_CANDIDATE_RANGES = ("prior", "train_margin")
#: MEX hyper-parameters that only choose the candidate range (ignored when matching an entry to its reference).
RANGE_KEYS = ("candidate_range", "range_margin", "range_prior")

_CANDIDATE_RANGE_LABELS = {
    "train_margin": "train range ± margin (leak-free)",
    "prior": "fixed prior (authors' release; default)",
    "dataset": "whole-dataset range (paper; leaks the test range)",
}


# ----------------------------------------------------------------------------------------------------------
# Candidate-range ablation
# ----------------------------------------------------------------------------------------------------------

def config_differences(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    """The keys (``prefix`` before each) whose values differ between two hyper-parameter mappings, leaving out
    the keys that only choose the candidate range (:data:`RANGE_KEYS`)."""
    keys = sorted((set(a) | set(b)) - set(RANGE_KEYS))
    return [prefix + k for k in keys if a.get(k) != b.get(k)]


def range_reference_entry(entry: pd.Series, candidates: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The leak-free entry to compare ``entry`` with, among ``candidates`` (the task and backbone's MEX entries
    of the first range kind of :data:`REFERENCE_CANDIDATE_RANGES` that ran): one whose hyper-parameters equal the
    entry's apart from the range keys; else one with the same score module (MEX's own entry "mex" first); else
    none. Returns (method, differing hyper-parameters)."""
    if candidates.empty:
        return None, []

    def differences(other: pd.Series) -> list[str]:
        return (config_differences(entry["method_config"], other["method_config"])
                + config_differences(entry["train_config"], other["train_config"], "train."))

    scored = [(len(differences(c)), c["score"] != entry["score"], c["method"] != "mex", c["method"], c)
              for _, c in candidates.iterrows()]
    exact = [s for s in scored if s[0] == 0]
    pool = exact or [s for s in scored if not s[1]]
    if not pool:
        return None, []
    best = sorted(pool, key=lambda s: s[:4])[0][4]
    return best["method"], differences(best)


_PREDICTIONS_PATH = re.compile(r"(?P<task>[^/]+)/(?P<backbone>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/"
                               r"predictions\.csv$")


def read_test_labels(predictions_paths: Iterable[PathLike], split_summaries: Mapping[str, Mapping] | None = None
                     ) -> dict:
    """{(task, backbone, method, seed): test labels (transformed units)} from the runs' ``predictions.csv``
    (``.../runs/{task}/{backbone}/{method}/seed{seed}/predictions.csv``: columns split, y_true). A file whose task's
    split summary is in ``split_summaries`` ({task: split JSON}) is checked against it first
    (extrapbench.evaluation.runs.check_predictions: a truncated file is refused, naming it)."""
    from extrapbench.evaluation.runs import check_predictions

    split_summaries = split_summaries or {}
    labels = {}
    for path in predictions_paths:
        match = _PREDICTIONS_PATH.search(Path(path).as_posix())
        if match is None:
            raise ValueError(f"{path}: not a run's predictions file (.../{{task}}/{{backbone}}/{{method}}/"
                             "seed{seed}/predictions.csv)")
        frame = pd.read_csv(path, dtype={"id": str})
        if match["task"] in split_summaries:
            check_predictions(frame, split_summaries[match["task"]], path)
        key = (match["task"], match["backbone"], match["method"], int(match["seed"]))
        labels[key] = frame.loc[frame["split"] == "test", "y_true"].to_numpy(float)
    return labels


def unreachable_share(labels: np.ndarray, low: float, high: float) -> float:
    """Share of ``labels`` outside [low, high]: labels a search confined to that interval can never predict.
    A label within float rounding of an end counts as inside (ends are recorded after a round trip through
    the standardisation). NaN without labels or without a range."""
    labels = np.asarray(labels, float)
    if not len(labels) or pd.isna(low) or pd.isna(high):
        return math.nan
    tolerance = 1e-9 * np.maximum(1.0, np.abs(labels))
    return float(np.mean((labels < low - tolerance) | (labels > high + tolerance)))


def _entry_test_labels(test_labels: dict, task: str, backbone: str, method: str, seed) -> np.ndarray | None:
    """The test labels of an entry's run (its first seed), else of any run of the task (same test set)."""
    if (task, backbone, method, seed) in test_labels:
        return test_labels[(task, backbone, method, seed)]
    same = [v for (t, b, m, _), v in test_labels.items() if (t, b, m) == (task, backbone, method)]
    same = same or [v for (t, *_), v in test_labels.items() if t == task]
    return same[0] if same else None


def candidate_range_table(summary: pd.DataFrame, provenance: pd.DataFrame | Iterable[Mapping | PathLike],
                          split_json_paths: Iterable[PathLike] | None = None, metric: str = "mae",
                          task_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                          decimals: int = 3, predictions_paths: Iterable[PathLike] | None = None) -> TextTable:
    """One row per (task, backbone, MEX entry): the candidate-range kind, the [l, u] it searched (transformed
    units, from the runs' ``method_details``), test ``metric`` mean(std) over seeds from the summary, and
    Δ = mean − mean of the reference entry: among the task's entries with the same hyper-parameters apart from
    the range (else the same score module), one with the default fixed prior (``candidate_range: prior``), else
    one with ``train_margin``. With split JSONs, the test label range is shown next to it, so a range that
    covers the test labels only because it saw them is visible. With the runs' ``predictions.csv``, the share
    of test labels outside [l, u] (``test_unreachable_share``): labels the search cannot reach at all."""
    if not isinstance(provenance, pd.DataFrame):
        provenance = read_run_provenance(provenance)
    mex = mex_entries(provenance)
    if mex.empty:
        raise ValueError("no run of a MEX entry among the provenance records")
    test_ranges, splits = {}, {}
    for path in split_json_paths or []:
        split = read_json(path)
        splits[split.get("task", Path(path).stem)] = split
        test_ranges[split.get("task", Path(path).stem)] = (split["test"]["min"], split["test"]["max"])
    test_labels = read_test_labels(predictions_paths or [], splits)

    # one entry per (task, backbone, method): the first seed's provenance; ranges must agree over seeds
    per_entry = []
    for (task, backbone, method), runs in mex.groupby(["task", "backbone", "method"], sort=False):
        runs = runs.sort_values("seed")
        first = runs.iloc[0].copy()
        lows, highs = runs["range_low"].dropna(), runs["range_high"].dropna()
        first["range_varies"] = bool(len(lows) and (lows.max() - lows.min() > 1e-9
                                                     or highs.max() - highs.min() > 1e-9))
        per_entry.append(first)
    entries = pd.DataFrame(per_entry).reset_index(drop=True)

    mean_column, std_column = f"{metric}_mean", f"{metric}_std"
    by_key = summary.set_index(["task", "backbone", "method"])
    tasks = order_tasks(entries["task"].unique(), task_order)
    backbones = order_backbones(entries["backbone"].unique(), backbone_order)
    records = []
    for task in tasks:
        for backbone in backbones:
            block = entries[(entries["task"] == task) & (entries["backbone"] == backbone)]
            if block.empty:
                continue
            leak_free = [block[block["candidate_range"] == kind] for kind in REFERENCE_CANDIDATE_RANGES]
            references = next((b for b in leak_free if not b.empty), block.iloc[0:0])
            for method in order_methods(block["method"]):
                entry = block[block["method"] == method].iloc[0]
                key = (task, backbone, method)
                mean = by_key.loc[key, mean_column] if key in by_key.index else math.nan
                std = by_key.loc[key, std_column] if key in by_key.index and std_column in by_key else math.nan
                n_seeds = by_key.loc[key, "n_seeds"] if key in by_key.index else 0
                reference, differs = range_reference_entry(entry, references)
                ref_key = (task, backbone, reference)
                ref_mean = by_key.loc[ref_key, mean_column] if reference and ref_key in by_key.index else math.nan
                record = {"task": task, "backbone": backbone, "method": method, "score": entry["score"],
                          "candidate_range": entry["candidate_range"], "range_margin": entry["range_margin"],
                          "range_low": entry["range_low"], "range_high": entry["range_high"],
                          "range_varies_over_seeds": entry["range_varies"],
                          f"{metric}_mean": mean, f"{metric}_std": std, "n_seeds": n_seeds,
                          "reference": reference, "reference_differs_in": ",".join(differs),
                          f"{metric}_reference_mean": ref_mean, f"delta_{metric}": mean - ref_mean}
                if test_ranges:
                    low, high = test_ranges.get(task, (math.nan, math.nan))
                    record["test_min"], record["test_max"] = low, high
                if test_labels:
                    labels = _entry_test_labels(test_labels, task, backbone, method, entry["seed"])
                    record["n_test_labels"] = 0 if labels is None else len(labels)
                    record["test_unreachable_share"] = (math.nan if labels is None else unreachable_share(
                        labels, entry["range_low"], entry["range_high"]))
                records.append(record)
    frame = pd.DataFrame(records)

    header = ["Task", "Backbone", "Entry", "Score", "Candidate range", "[l, u] used"]
    align = ["l"] * len(header)
    if test_ranges:
        header.append("Test labels")
        align.append("l")
    if test_labels:
        header.append("Test labels outside [l, u]")
        align.append("r")
    header += [f"{metric.upper()} mean(std)", "Reference", f"Δ{metric.upper()} vs reference"]
    align += ["r", "l", "r"]
    cells, bold = [], set()
    previous = (None, None)
    for r, rec in frame.iterrows():
        kind = rec["candidate_range"]
        kind_text = _CANDIDATE_RANGE_LABELS.get(kind, str(kind))
        if kind == "train_margin" and rec["range_margin"] is not None and not pd.isna(rec["range_margin"]):
            kind_text = f"train range ± {rec['range_margin']:g} span (leak-free)"
        used = fmt_range(rec["range_low"], rec["range_high"])
        if rec["range_varies_over_seeds"]:
            used += " (first seed; varies)"
        std_text = MISSING if pd.isna(rec[f"{metric}_std"]) else fmt(rec[f"{metric}_std"], decimals)
        value = MISSING if pd.isna(rec[f"{metric}_mean"]) else f"{fmt(rec[f'{metric}_mean'], decimals)}({std_text})"
        if rec["reference"] is None:
            ref_text, delta = "none", MISSING
        elif rec["reference"] == rec["method"]:
            ref_text, delta = "(itself)", fmt(0.0, decimals)
        else:
            ref_text = display_name(rec["reference"])
            if rec["reference_differs_in"]:
                ref_text += f" (differs in {rec['reference_differs_in'].replace(',', ', ')})"
            delta = MISSING if pd.isna(rec[f"delta_{metric}"]) else f"{rec[f'delta_{metric}']:+.{decimals}f}"
        same_block = previous == (rec["task"], rec["backbone"])
        row = ["" if same_block else rec["task"], "" if same_block else display_name(rec["backbone"]),
               display_name(rec["method"]), str(rec["score"]), kind_text, used]
        if test_ranges:
            row.append(fmt_range(rec.get("test_min"), rec.get("test_max")))
        if test_labels:
            share = rec["test_unreachable_share"]
            row.append(MISSING if pd.isna(share) else f"{100 * share:.1f}% of {int(rec['n_test_labels'])}")
        row += [value, ref_text, delta]
        if kind == "dataset":
            bold.add((r, header.index("Candidate range")))
        cells.append(row)
        previous = (rec["task"], rec["backbone"])
    notes = [f"One row per task, backbone and MEX entry; {metric.upper()} = test {metric.upper()} in transformed "
             f"units, mean(std) over seeds (sample std; — for a single seed).",
             "[l, u] used: the interval MEX's Monte-Carlo search drew candidate labels from (transformed units, "
             "recorded by each run in provenance.json method_details).",
             "Reference: the entry with the default fixed prior (candidate_range: prior), else one with "
             "candidate_range: train_margin, with the same hyper-parameters apart from the range, else the one "
             "with the same score module; Δ = entry − reference (negative: the entry has the lower error).",
             "The paper's choice, the whole-dataset range (bold), includes the test labels' range: any gain it "
             "shows over the leak-free range is information from the test set, not extrapolation."]
    if test_labels:
        notes.append("Test labels outside [l, u]: the share of the task's test labels (from the run's "
                     "predictions.csv) that lie outside the searched interval; MEX can never predict them, so "
                     "their error is at least their distance to the nearer end.")
    kinds = sorted({str(k) for k in frame["candidate_range"].dropna()})
    if len(kinds) <= 1:
        notes.append(f"Only one candidate-range kind was run ({', '.join(kinds) or 'unknown'}): there is no "
                     "contrast to show. Add a MEX entry such as `mex_dataset_range: {method: mex, "
                     "candidate_range: dataset}` to the config to measure the effect of the paper's leaky range.")
    if frame["reference"].isna().any():
        notes.append("Reference 'none': no prior or train_margin MEX entry with that score module ran for the "
                     "task and backbone.")
    table = TextTable("MEX candidate-range ablation", header, cells, frame, notes, align=align, bold=bold)
    return table
