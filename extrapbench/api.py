"""Python API for scoring a model trained anywhere on the benchmark's splits, in the shape of matbench's
(``task.get_train_and_val_data`` → ``task.record`` → ``mb.scores`` → ``to_file`` / ``from_file``):

    from extrapbench.api import Benchmark

    bench = Benchmark.from_config("config/demo.yaml", name="my_model")      # units="raw" (default) or "transformed"
    for task in bench.tasks.values():
        train, val = task.train(), task.val()                                # id, composition, structure, target
        model = fit(train)                                                   # any model, anywhere
        task.record(0, dict(zip(task.test_inputs()["id"], model.predict(task.test_inputs()))))
    print(bench.scores())                                                    # seed means, skill, verdicts
    bench.to_file("record.json.gz")                                          # Benchmark.from_file reads it back

The splits are the workflow's (extrapbench.records.task_data), the metrics a workflow run's metrics.json
(extrapbench.records.scoring), the reference predictors computed beside the model on the same splits, and the
record file is extrapbench.records.record's. The command line (extrapbench.cli) is built on this module.
"""
from __future__ import annotations

import datetime as _datetime
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Sequence

import pandas as pd

from extrapbench.config.entries import configured_references
from extrapbench.provenance import provenance
from extrapbench.records.predictions import PredictionsError, check_predictions, predictions_frame
from extrapbench.records.record import RECORD_FORMAT, RecordError, read_record, write_record
from extrapbench.records.scoring import (DEFAULT_TOLERANCE, applicable_references, reference_predictions,
                                         scores_frame, seed_metrics)
from extrapbench.records.task_data import (TaskSplit, check_units, config_tasks, load_task_split, resolve_config,
                                           selected_tasks)
from extrapbench.tasks import Task

log = logging.getLogger(__name__)

__all__ = ["Benchmark", "BenchmarkTask", "PredictionsError", "RecordError"]


class BenchmarkTask:
    """One task of a Benchmark: its split (loaded on first use), the parts' data, and what was recorded."""

    def __init__(self, bench: "Benchmark", task: Task, expected_digest: str | None = None):
        self.bench = bench
        self.id = task.id
        self.definition = task
        self.entries: Dict[str, Dict[str, Any]] = {}
        self.parts: list[str] | None = None
        self._split: TaskSplit | None = None
        self._expected_digest = expected_digest
        self._stored: Dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"BenchmarkTask({self.id!r}, units={self.bench.units!r}, entries={sorted(self.entries)})"

    # -- the data ------------------------------------------------------------------------------------------
    @property
    def split(self) -> TaskSplit:
        """The task's split, made as the workflow makes it; for a benchmark read from a record, checked to be the
        split the record was scored on (RecordError naming both digests otherwise)."""
        if self._split is None:
            split = load_task_split(self.bench.config, self.id, self.bench._task_definitions, self.bench._tables)
            if self._expected_digest is not None and split.digest != self._expected_digest:
                raise RecordError(f"task {self.id}: the record was scored on split {self._expected_digest}, the data "
                                  f"here give split {split.digest}: not the same members or targets (another "
                                  f"dataset file, config or split rule)")
            self._split = split
        return self._split

    @property
    def split_digest(self) -> str:
        return self._split.digest if self._split is not None else (self._expected_digest or self.split.digest)

    def train(self) -> pd.DataFrame:
        """The train part: id, composition, structure (pymatgen, where the dataset has structures), ``target`` in
        the benchmark's units, ``target_raw`` and ``target_transformed``."""
        return self.split.part_table("train", self.bench.units)

    def val(self) -> pd.DataFrame:
        """The validation part, as `train`."""
        return self.split.part_table("val", self.bench.units)

    def test_inputs(self) -> pd.DataFrame:
        """The test part without targets: id, composition, structure."""
        return self.split.part_table("test", targets=False)

    # -- recording -----------------------------------------------------------------------------------------
    def record(self, seed: int, predictions: Any, entry: str | None = None,
               params: Mapping[str, Any] | None = None) -> Dict[str, Any]:
        """Record one seed of a model's predictions (in the benchmark's units): a mapping or Series id -> y_pred,
        or a DataFrame with columns id and y_pred, covering every test id (val / train ids optional, each part
        whole). `entry` names the model (default: the benchmark's name); `params` are stored beside it. Returns
        the seed's metrics. Raises PredictionsError (one line naming the ids) on missing, unknown or repeated ids
        and non-finite values; a y_true column is ignored with a warning."""
        entry = self.bench.name if entry is None else str(entry)
        seed = _seed(seed)
        if entry in self.bench.references:
            raise ValueError(f"entry name {entry!r} is a reference predictor's; name the model otherwise")
        if seed in self.entries.get(entry, {}).get("seeds", {}):
            raise ValueError(f"task {self.id}: seed {seed} of entry {entry!r} is already recorded")
        source = f"{self.id} seed {seed}" if not isinstance(predictions, (str, os.PathLike)) else str(predictions)
        frame = predictions_frame(_read_if_path(predictions), source)
        checked = check_predictions(frame, self.split, source)
        if self.parts is not None and checked["parts"] != self.parts:
            raise PredictionsError(f"{source}: predicts the parts {checked['parts']}, the seeds recorded before on "
                                   f"task {self.id} predict {self.parts}: give every seed the same parts")
        metrics = seed_metrics(self.split, entry, seed, checked["y_pred"], checked["parts"], self.bench.units)
        self.parts = checked["parts"]
        content = self.entries.setdefault(entry, {"role": "model", "params": None, "seeds": {}})
        if params is not None:
            content["params"] = dict(params)
        keep = {i for part in self.parts for i in self.split.ids(part)}
        content["seeds"][seed] = {"predictions": {i: y for i, y in checked["y_pred"].items() if i in keep},
                                  "metrics": metrics}
        return metrics

    def model_seeds(self) -> list[int]:
        return sorted({seed for content in self.entries.values() if content["role"] == "model"
                       for seed in content["seeds"]})

    def fill_references(self) -> None:
        """Compute, on the recorded parts, each reference predictor's seeds that the models have and it lacks."""
        seeds = self.model_seeds()
        if not seeds:
            return
        wanted = dict(self.bench.references)
        side = self._split.side if self._split is not None else self._stored.get("side", self.definition.side)
        for name in applicable_references(side, wanted):
            have = set(self.entries.get(name, {}).get("seeds", {}))
            missing = [seed for seed in seeds if seed not in have]
            if not missing:
                continue
            predicted = reference_predictions(self.split, {name: wanted[name]}, missing, self.bench.cache_dir,
                                              progress=self.bench.progress)[name]
            content = self.entries.setdefault(name, {"role": "reference", "params": dict(wanted[name] or {}),
                                                     "seeds": {}})
            ids = [i for part in self.parts for i in self.split.ids(part)]
            for seed in missing:
                values = self.split.from_transformed([predicted[seed][i] for i in ids], self.bench.units)
                y_pred = dict(zip(ids, values.tolist()))
                content["seeds"][seed] = {"predictions": y_pred,
                                          "metrics": seed_metrics(self.split, name, seed, y_pred, self.parts,
                                                                  self.bench.units)}

    def seed_metrics(self) -> list[Dict[str, Any]]:
        """Every recorded seed's metrics (models and references)."""
        return [content["seeds"][seed]["metrics"] for content in self.entries.values()
                for seed in sorted(content["seeds"])]

    def scores(self) -> pd.DataFrame:
        """This task's rows of Benchmark.scores."""
        return self.bench.scores(tasks=[self.id])

    def describe(self) -> Dict[str, Any]:
        """What the record says of this task's split and data."""
        if self._split is None and self._stored:
            return dict(self._stored)
        split = self.split
        return {"dataset": split.task.dataset, "dataset_digest": split.dataset_digest, "split_digest": split.digest,
                "target": split.task.target, "transform": split.task.transform, "side": split.side,
                "split": split.describe()}


class Benchmark:
    """The tasks of a config, each split as the workflow splits it, and the predictions recorded on them."""

    def __init__(self, config: Dict[str, Any], config_source: str, *, name: str = "model", units: str = "raw",
                 tasks: Sequence[str] | None = None, references: Iterable[str] | Mapping[str, Any] | None = None,
                 tolerance: float = DEFAULT_TOLERANCE, cache_dir: str | os.PathLike | None = None,
                 device: str | None = None, progress=None):
        self.config = config
        self.config_source = str(config_source)
        self.name = str(name)
        self.units = check_units(units)
        self.tolerance = float(tolerance)
        self.cache_dir = cache_dir
        self.device = device
        self.progress = progress
        self.references = _references(config, references)
        self._task_definitions = config_tasks(config)
        self._tables: Dict[str, pd.DataFrame] = {}
        names = list(tasks) if tasks is not None else selected_tasks(config)
        unknown = [t for t in names if t not in self._task_definitions]
        if unknown:
            raise KeyError(f"no task {', '.join(map(repr, unknown))} in config {config_source}: its tasks are "
                           f"{selected_tasks(config)}; every task it can name: {sorted(self._task_definitions)}")
        self.tasks: Dict[str, BenchmarkTask] = {t: BenchmarkTask(self, self._task_definitions[t]) for t in names}

    def __repr__(self) -> str:
        return (f"Benchmark({self.config_source!r}, name={self.name!r}, units={self.units!r}, "
                f"tasks={list(self.tasks)})")

    @classmethod
    def from_config(cls, path: str | os.PathLike, **options) -> "Benchmark":
        """The benchmark of a config file (checked as the workflow checks it). Options: ``name`` (the model's entry,
        default "model"), ``units`` ("raw", the dataset's values, default; or "transformed", the task's
        transform), ``tasks`` (a subset of the config's), ``references`` (names, default the config's),
        ``tolerance`` (of the verdicts, relative), ``cache_dir`` (Magpie features), ``device`` (where the
        predictions were made, for the record)."""
        return cls(resolve_config(path), str(path), **options)

    # -- scores --------------------------------------------------------------------------------------------
    def fill_references(self) -> None:
        for task in self.tasks.values():
            task.fill_references()

    def seed_scores(self, tasks: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (task, entry, seed): every metric of a workflow run's metrics.json."""
        self.fill_references()
        rows = [m for t in (tasks or self.tasks) for m in self.tasks[t].seed_metrics()]
        return pd.DataFrame(rows)

    def roles(self) -> Dict[str, str]:
        return {entry: content["role"] for task in self.tasks.values() for entry, content in task.entries.items()}

    def scores(self, tasks: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (task, entry): seed-mean (and std) of every metric, skill against edge_train, and the
        verdicts against edge_train, edge_known and ridge (beats / ≈ / trails at the tolerance) with the paired
        t-test's p over seeds; ``units`` says in which units."""
        self.fill_references()
        rows = [m for t in (tasks or self.tasks) for m in self.tasks[t].seed_metrics()]
        if not rows:
            raise ValueError("nothing recorded yet: task.record(seed, predictions) first")
        frame = scores_frame(rows, self.roles(), self.tolerance, std_ddof=int(self.config.get("std_ddof", 1)))
        frame.insert(2, "units", self.units)
        return frame

    # -- the record ----------------------------------------------------------------------------------------
    def to_document(self) -> Dict[str, Any]:
        self.fill_references()
        tasks = {}
        for task_id, task in self.tasks.items():
            if not task.entries:
                continue
            tasks[task_id] = {**task.describe(), "units": self.units, "parts": list(task.parts),
                              "entries": {entry: {"role": content["role"], "params": content["params"],
                                                  "seeds": {str(seed): run for seed, run
                                                            in sorted(content["seeds"].items())}}
                                          for entry, content in task.entries.items()}}
        if not tasks:
            raise ValueError("nothing recorded yet: task.record(seed, predictions) first")
        return {"format": RECORD_FORMAT, "name": self.name,
                "created": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
                "units": self.units, "tolerance": self.tolerance, "config_source": self.config_source,
                "config": self.config, "references": self.references, "provenance": provenance("cpu (scoring)"),
                "device": self.device, "tasks": tasks}

    def to_file(self, path: str | os.PathLike) -> Path:
        """Write the record (``.json.gz``): config, digests, provenance, every seed's predictions and metrics."""
        return write_record(self.to_document(), path)

    @classmethod
    def from_file(cls, path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> "Benchmark":
        """A benchmark from a record file (checked: RecordError naming the file and key). Its scores need no data;
        reading a split or recording more seeds loads the data and checks it gives the recorded split."""
        document = read_record(path)
        bench = cls(document["config"], document.get("config_source") or str(path), name=document["name"],
                    units=document["units"], tasks=list(document["tasks"]), references=document["references"],
                    tolerance=document.get("tolerance", DEFAULT_TOLERANCE), cache_dir=cache_dir,
                    device=document.get("device"))
        for task_id, stored in document["tasks"].items():
            task = bench.tasks[task_id]
            task._expected_digest = stored["split_digest"]
            task._stored = {key: stored.get(key) for key in ("dataset", "dataset_digest", "split_digest", "target",
                                                             "transform", "side", "split")}
            task.parts = list(stored["parts"])
            for entry, content in stored["entries"].items():
                task.entries[entry] = {"role": content["role"], "params": content.get("params"),
                                       "seeds": {int(seed): run for seed, run in content["seeds"].items()}}
        bench.source_document = document
        return bench

    def verify(self) -> None:
        """Load every task's data and check it gives the split each was scored on (RecordError otherwise)."""
        for task in self.tasks.values():
            task.split  # noqa: B018 (loads and checks)


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) and not (isinstance(seed, str) and seed.isdigit()):
        raise ValueError(f"a seed is a non-negative integer, got {seed!r}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"a seed is a non-negative integer, got {seed}")
    return seed


def _read_if_path(predictions: Any) -> Any:
    if isinstance(predictions, (str, os.PathLike)):
        from extrapbench.records.predictions import read_predictions_csv

        return read_predictions_csv(predictions)
    return predictions


def _references(config: Mapping[str, Any], references) -> Dict[str, Dict[str, Any]]:
    """name -> params of the reference predictors scored beside the models: the config's (its `references:`
    key, every default one when it has none), or the names given (with the config's params where it has them)."""
    configured = configured_references(dict(config))
    if references is None:
        return configured
    if isinstance(references, Mapping):
        return {str(name): dict(params or {}) for name, params in references.items()}
    from extrapbench.registry import REFERENCES

    chosen = {}
    for name in references:
        name = str(name).strip()
        if not name:
            continue
        if name not in configured and name not in REFERENCES.declared_names():
            raise ValueError(f"unknown reference predictor {name!r}; registered: "
                             f"{', '.join(REFERENCES.declared_names())}")
        chosen[name] = dict(configured.get(name) or {})
    return chosen
