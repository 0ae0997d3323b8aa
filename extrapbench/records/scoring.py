"""Scoring predictions made elsewhere with the workflow's own definitions.

* A seed's metrics are extrapbench.evaluation.runs.run_metrics on (id, split, y_true, y_pred) rows, the truth
  from the split: the same numbers a workflow run's ``metrics.json`` holds, in the units asked for.
* The reference predictors (extrapbench.references: edge_train, edge_known, train_mean, ridge, random_forest)
  are computed on the fly from the split, as the workflow's predict_reference job computes them
  (extrapbench.training.reference_run.build_reference, the Magpie features standardised with train statistics),
  and scored on the same parts as the predictions.
* Skill against ``edge_train`` is the skill table's (extrapbench.report.references.skill_table), and the
  verdicts against edge_train, edge_known and ridge compare seed-mean test MAEs with a relative tolerance, the
  paired t-test's p over the seeds beside them (extrapbench.report.significance.paired_tests).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.evaluation.metrics import METRIC_KEYS
from extrapbench.evaluation.runs import run_metrics
from extrapbench.files import write_atomic
from extrapbench.naming import PARTS
from extrapbench.records.predictions import prediction_rows
from extrapbench.records.task_data import TaskSplit
from extrapbench.references.base import ReferenceData
from extrapbench.registry import REFERENCES
from extrapbench.report.compare import beats
from extrapbench.report.references import EDGE_REFERENCE, skill_table
from extrapbench.report.significance import paired_tests
from extrapbench.report.summary import MISSING, collect, summarize
from extrapbench.training.inputs import ids_by_part, part_targets, standardised_features
from extrapbench.training.reference_run import build_reference

log = logging.getLogger(__name__)

#: the backbone column of every run scored here: the tables group runs by backbone, and a model trained
#: elsewhere has none the benchmark knows
BACKBONE = "external"
#: the references a verdict is given against, in the order of the questions: beyond the constant at the train
#: edge? beyond the most extreme label seen? beyond a linear model on composition features?
VERDICT_REFERENCES = ("edge_train", "edge_known", "ridge")
#: relative tolerance of a verdict: "beats" needs a seed-mean test MAE below the reference's by more than this
#: share of the reference's MAE, "trails" above it by more; within it, "≈"
DEFAULT_TOLERANCE = 0.01
#: metrics of the score tables, in their order
SCORE_METRICS = tuple(key for key in METRIC_KEYS if key != "seconds_per_sample")


def default_cache_dir() -> Path:
    """Where computed Magpie features are kept between calls: $EXTRAPBENCH_CACHE, else ~/.cache/extrapbench."""
    return Path(os.environ.get("EXTRAPBENCH_CACHE") or Path.home() / ".cache" / "extrapbench")


def seed_metrics(split: TaskSplit, entry: str, seed: int, y_pred: Mapping[str, float], parts: Iterable[str],
                 units: str) -> Dict[str, Any]:
    """One seed's metrics of entry `entry`, as a workflow run's metrics.json holds them, in `units`."""
    parts = list(parts)
    rows = prediction_rows(split, y_pred, parts, units)
    provenance = {"task": split.task.id, "backbone": BACKBONE, "method": entry, "seed": int(seed)}
    metrics = run_metrics(rows, split.summary_in(units, parts), provenance)
    metrics.update({"units": units, "parts": parts})
    return metrics


def magpie_features_file(split: TaskSplit, cache_dir: str | os.PathLike | None = None) -> Path:
    """The dataset's Magpie features as the workflow's featurize_magpie job writes them (every row of the dataset
    table, extrapbench.data.features.magpie_features), computed once and kept in `cache_dir` under the dataset's
    digest and matminer's version."""
    import hashlib
    from importlib import metadata

    from extrapbench.data.features import magpie_features

    key = hashlib.sha256(f"{split.dataset_digest}\0{metadata.version('matminer')}".encode()).hexdigest()[:16]
    path = Path(cache_dir or default_cache_dir()) / "magpie" / f"{split.task.dataset}-{key}.csv"
    if not path.exists():
        log.info("computing Magpie features of %d materials of %s (kept in %s)", len(split.table),
                 split.task.dataset, path)
        features = magpie_features(split.table["composition"])
        write_atomic(lambda p: features.to_csv(p), path)
    return path


def applicable_references(side: str | None, references: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """The names of the reference predictors of `references` (name -> params) defined on a split with held-out
    side `side` (the edges need "top" or "bottom")."""
    from extrapbench.config.entries import reference_entry

    kept = []
    for name, params in references.items():
        registered, _ = reference_entry(name, params)
        if REFERENCES.declaration(registered).needs_side and side not in ("top", "bottom"):
            continue
        kept.append(name)
    return kept


def reference_predictions(split: TaskSplit, references: Mapping[str, Mapping[str, Any] | None],
                          seeds: Sequence[int], cache_dir: str | os.PathLike | None = None,
                          progress=None) -> Dict[str, Dict[int, Dict[str, float]]]:
    """name -> seed -> {id: prediction} (transformed units, every member) of each reference predictor, computed
    as the workflow's predict_reference job computes it (one prediction for all seeds when it is not seeded)."""
    ids = ids_by_part(split.summary)
    data = ReferenceData(y=part_targets(split.table, ids), side=split.side)
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for name, params in references.items():
        predictor = build_reference(name, params)
        if predictor.needs_features and data.x is None:
            data.x = standardised_features(magpie_features_file(split, cache_dir), ids)
        cache: Dict[int, Dict[str, float]] = {}
        out[name] = {}
        for seed in seeds:
            key = int(seed) if predictor.seeded else 0
            if key not in cache:
                predicted = predictor.predict(data, int(seed))
                cache[key] = {i: float(p) for part in PARTS for i, p in zip(ids[part], predicted[part])}
                if progress is not None:
                    test = np.array([cache[key][i] for i in ids["test"]])
                    progress(f"{split.task.id}: reference {name} (seed {seed}): test MAE "
                             f"{np.mean(np.abs(test - data.y['test'])):.4f} (transformed units)")
            out[name][int(seed)] = cache[key]
    return out


def verdict(mae: float, reference_mae: float, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """"beats" / "trails" where the seed-mean test MAE is below / above the reference's by more than `tolerance`
    times the reference's MAE, "≈" within it, "—" without both numbers. The comparison is the report's
    (extrapbench.report.compare.beats, with its tie width), so `tolerance` 0 gives the tables' own verdict."""
    if pd.isna(mae) or pd.isna(reference_mae):
        return MISSING
    if beats(mae, reference_mae * (1.0 - tolerance)):
        return "beats"
    if beats(reference_mae * (1.0 + tolerance), mae):
        return "trails"
    return "≈"


def scores_frame(runs: Iterable[Mapping[str, Any]], roles: Mapping[str, str],
                 tolerance: float = DEFAULT_TOLERANCE, std_ddof: int = 1) -> pd.DataFrame:
    """One row per (task, entry) from per-seed metrics (the runs' metrics dicts): ``role`` (model / reference),
    ``n_seeds``, ``seeds``, ``{metric}_mean`` / ``{metric}_std`` over seeds (extrapbench.report.summary.summarize),
    ``skill_mean`` / ``skill_std`` against edge_train (the skill table's), and per reference of
    VERDICT_REFERENCES present ``vs_{reference}`` (beats / ≈ / trails at `tolerance`) and ``p_vs_{reference}``
    (paired t-test over the seeds, NaN below two)."""
    runs = collect(list(runs))
    summary = summarize(runs, std_ddof=std_ddof)
    models = [m for m in dict.fromkeys(runs["method"]) if roles.get(m) != "reference"]
    references = [m for m in dict.fromkeys(runs["method"]) if roles.get(m) == "reference"]
    skill = {}
    if (runs["method"] == EDGE_REFERENCE).any():
        frame = skill_table(runs, methods=models, references=references, std_ddof=std_ddof).frame
        for record in frame.to_dict("records"):
            for task in runs["task"].unique():
                if f"{task}_skill_mean" in record:
                    skill[(task, record["method"])] = (record[f"{task}_skill_mean"], record[f"{task}_skill_std"])
    tests = {}
    for reference in VERDICT_REFERENCES:
        if (runs["method"] == reference).any():
            for row in paired_tests(runs, "mae", reference, std_ddof=std_ddof).to_dict("records"):
                tests[(row["task"], row["method"], reference)] = row["p_value"]
    mae = summary.set_index(["task", "method"])["mae_mean"]
    rows = []
    for record in summary.to_dict("records"):
        task, entry = record["task"], record["method"]
        row = {"task": task, "entry": entry, "role": roles.get(entry, "model"),
               "n_seeds": record["n_seeds"], "seeds": record["seeds"]}
        for metric in SCORE_METRICS:
            for stat in ("mean", "std"):
                row[f"{metric}_{stat}"] = record.get(f"{metric}_{stat}", np.nan)
        row["skill_mean"], row["skill_std"] = skill.get((task, entry), (np.nan, np.nan))
        for reference in VERDICT_REFERENCES:
            if (task, reference) not in mae.index:
                continue
            own = entry == reference
            row[f"vs_{reference}"] = MISSING if own else verdict(record["mae_mean"], mae[(task, reference)],
                                                                 tolerance)
            row[f"p_vs_{reference}"] = np.nan if own else tests.get((task, entry, reference), np.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    # models first (in the order they were recorded), then the references, in the order of `roles`
    rank = {entry: (roles.get(entry) == "reference", index) for index, entry in enumerate(roles)}
    tasks = list(dict.fromkeys(runs["task"]))
    order = sorted(range(len(frame)), key=lambda i: (tasks.index(frame.at[i, "task"]),
                                                     rank.get(frame.at[i, "entry"], (True, len(rank)))))
    frame = frame.loc[order].reset_index(drop=True)
    frame.attrs["tolerance"] = tolerance
    return frame
