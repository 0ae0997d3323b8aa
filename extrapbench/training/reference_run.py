"""One task's reference predictors (extrapbench.references) -> predictions.csv and provenance.json per run, the
same files a training run writes (extrapbench.training.run), so evaluation, the tables and the figures read them
alike.

A reference does not depend on the backbone: its predictions are computed once per seed (once for all seeds when
it is not seeded) and written under every backbone that runs the task, so each backbone's block in the tables has
its reference rows. No torch is imported.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping

import pandas as pd

from extrapbench.files import write_atomic
from extrapbench.config.entries import reference_entry
from extrapbench.hparams import check_all
from extrapbench.provenance import file_digest, provenance
from extrapbench.naming import PARTS
from extrapbench.references.base import ReferenceData
from extrapbench.registry import REFERENCES
from extrapbench.training.inputs import ids_by_part, load_split, part_targets, standardised_features


def build_reference(name: str, params: Mapping[str, Any] | None):
    """The configured reference entry `name`, its values checked."""
    registered, params = reference_entry(name, params)
    cls = REFERENCES.get(registered)
    bad = check_all(cls, {k: v for k, v in params.items() if k in cls.defaults}, f"references.{name}")
    if bad:
        raise ValueError("; ".join(bad))
    return cls(**params)


def predict_references(*, split_json, split_csv, features_csv: str | os.PathLike | None,
                       references: Mapping[str, Mapping[str, Any] | None],
                       runs: Iterable[Mapping[str, Any]], progress=print) -> list[dict]:
    """Write each run's predictions and provenance. ``runs``: dicts with backbone, reference, seed, predictions
    (path) and provenance (path); ``references``: name -> params of the configured entries; ``features_csv``: the
    dataset's Magpie features (needed when a reference reads features). Predictions are written last: their
    presence marks a finished run."""
    summary, table = load_split(split_json, split_csv)
    ids = ids_by_part(summary)
    data = ReferenceData(y=part_targets(table, ids), side=summary.get("side"))
    by_reference: Dict[str, list] = {}
    for run in runs:
        by_reference.setdefault(run["reference"], []).append(run)
    records = []
    for name, its_runs in by_reference.items():
        predictor = build_reference(name, references.get(name))
        if predictor.needs_features and data.x is None:
            if features_csv is None:
                raise ValueError(f"reference {name!r} reads Magpie features, but no features file was given")
            data.x = standardised_features(features_csv, ids)
        if predictor.needs_side and data.side not in ("top", "bottom"):
            raise ValueError(f"reference {name!r} needs a split with a held-out side; task {summary['task']!r} "
                             f"has side {data.side!r} (split kind {summary.get('split')!r})")
        cache: Dict[int, tuple] = {}
        for run in its_runs:
            seed = int(run["seed"])
            key = seed if predictor.seeded else 0
            if key not in cache:
                started = time.perf_counter()
                predicted = predictor.predict(data, seed)
                cache[key] = (predicted, time.perf_counter() - started, predictor.describe())
                progress(f"{summary['task']}: {name} (seed {seed}): test MAE "
                         f"{abs(predicted['test'] - data.y['test']).mean():.4f}")
            predicted, seconds, details = cache[key]
            rows = [(i, part, float(y), float(p)) for part in PARTS
                    for i, y, p in zip(ids[part], data.y[part], predicted[part])]
            record = {"task": summary["task"], "backbone": run["backbone"], "method": name, "seed": seed,
                      "registered_method": type(predictor).registry_name, "role": "reference",
                      "reference_description": predictor.description, "epochs_run": None, "best_epoch": None,
                      "wall_time_s": seconds, "inference_seconds_per_sample": None, "n_test": len(ids["test"]),
                      "config": {"reference": predictor.params}, "method_details": details,
                      "inputs": {"split": [file_digest(split_json), file_digest(split_csv)],
                                 "features": file_digest(features_csv) if predictor.needs_features else None},
                      **provenance("cpu")}
            Path(run["predictions"]).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)), run["provenance"])
            frame = pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred"])
            write_atomic(lambda p: frame.to_csv(p, index=False), run["predictions"])
            records.append(record)
    return records
