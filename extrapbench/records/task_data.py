"""A task's split as someone scoring a model trained outside the workflow sees it.

The config is resolved as the workflow resolves it (the schema check, then every schema default filled in), the
dataset is loaded as the workflow's download rule loads it and split as its split rule splits it
(extrapbench.splits.task_split: task_table, make_split with the config's ``split_ties`` and ``min_part_size``), so
the members of each part, their targets and the split's digest are those of ``results/splits/{task}.json`` /
``.csv``.

Two units: ``raw`` is the property as the dataset holds it (matbench_phonons' ``last phdos peak`` in cm⁻¹),
``transformed`` the task's transform of it (the natural log there; docs/benchmark.md, "Tasks"), which is what the
workflow trains on and its tables report.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping

import numpy as np
import pandas as pd

from extrapbench.config.entries import (RANDOM_TWIN_SUFFIX, ConfigError, in_distribution_settings, load_yaml_file,
                                        with_schema_defaults)
from extrapbench.config.validate import check_config
from extrapbench.data import sources
from extrapbench.naming import PARTS
# raw: the dataset's own values; transformed: the task's transform of them (what the workflow trains on)
from extrapbench.records.record import UNITS
from extrapbench.splits.task_split import make_split, split_digest, split_frame, task_table
from extrapbench.tasks import Task, get_tasks, random_twin

log = logging.getLogger(__name__)

#: the repository the package sits in (an editable install): the workflow's schema and its working directory
REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


def check_units(units: str) -> str:
    if units not in UNITS:
        raise ValueError(f"units must be one of {list(UNITS)}, got {units!r}")
    return units


def resolve_config(path: str | Path) -> Dict[str, Any]:
    """The config file checked as the workflow checks it (ConfigError naming the file and every bad key) and
    completed with the schema's defaults: the resolved config a record carries."""
    config = load_yaml_file(path) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"config {path}: expected a mapping of keys, got a {type(config).__name__}")
    check_config(config, SCHEMA_PATH, source=str(path))
    return with_schema_defaults(config, load_yaml_file(SCHEMA_PATH))


def config_tasks(config: Mapping[str, Any]) -> Dict[str, Task]:
    """Every task the config can name, as the workflow defines them: the built-in tasks, the config's
    ``task_definitions``, and the random twin (``<task>_random``) of each range task of ``tasks`` when the config
    trains twins (``in_distribution``)."""
    tasks = get_tasks(config.get("task_definitions"))
    twins = in_distribution_settings(dict(config))
    for task_id in config.get("tasks") or []:
        if twins["methods"] and task_id in tasks and tasks[task_id].side in ("top", "bottom"):
            twin = f"{task_id}{RANDOM_TWIN_SUFFIX}"
            tasks[twin] = random_twin(tasks[task_id], twin, twins["seed"])
    return tasks


def selected_tasks(config: Mapping[str, Any]) -> list[str]:
    """The config's tasks: ``tasks`` then ``other_split_tasks``."""
    return list(config.get("tasks") or []) + list(config.get("other_split_tasks") or [])


def data_folder(config: Mapping[str, Any], key: str) -> Path:
    """The config's ``data_home`` / ``ane_data_home``. A relative path is read from the current directory, as the
    workflow reads it from its own; when it is not there but is in this repository (where the workflow runs), it
    is read from there, so the shipped configs work from any directory."""
    path = Path(str(config[key])).expanduser()
    if path.is_absolute() or path.exists() or not (REPO / path).exists():
        return path
    log.info("%s %s: not in the current directory, read from the repository (%s)", key, path, REPO / path)
    return REPO / path


def _with_data_folders(config: Mapping[str, Any]) -> Dict[str, Any]:
    return {**config, "data_home": str(data_folder(config, "data_home")),
            "ane_data_home": str(data_folder(config, "ane_data_home"))}


def dataset_table(config: Mapping[str, Any], name: str) -> pd.DataFrame:
    """The dataset table of `name` as the workflow reads it (extrapbench.data.sources: the config's own
    ``datasets:`` entry, else the built-in loader), its data folders found by `data_folder`."""
    return sources.dataset_table(_with_data_folders(config), name)


def dataset_digest(config: Mapping[str, Any], name: str) -> str:
    """What the dataset's table is built from (extrapbench.data.sources.dataset_digest: the sha256 of its source
    files)."""
    return sources.dataset_digest(_with_data_folders(config), name)


@dataclass
class TaskSplit:
    """One task's split: `summary` is make_split's (results/splits/{task}.json), `table` the task table (one row
    per dataset material: its inputs, the raw target column and ``target``, the transformed one), `frame`
    split_frame's (id, target, split), `digest` its split_digest."""

    task: Task
    summary: dict
    table: pd.DataFrame
    frame: pd.DataFrame
    digest: str
    dataset_digest: str
    split_ties: str | None = None
    _to_raw: Dict[float, float] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        members = self.table.loc[list(dict.fromkeys(self.frame["id"]))]
        self._to_raw = dict(zip(members["target"].to_numpy(float), members[self.task.target].to_numpy(float)))

    @property
    def side(self) -> str | None:
        return self.summary.get("side")

    def ids(self, part: str) -> list[str]:
        return list(map(str, self.summary[part]["ids"]))

    def members(self) -> set[str]:
        return {member for part in PARTS for member in self.ids(part)}

    def part_of(self) -> Dict[str, list[str]]:
        """member id -> the parts it is in (two only for a material tied at a cut under ``both_sides``)."""
        parts: Dict[str, list[str]] = {}
        for part in PARTS:
            for member in self.ids(part):
                parts.setdefault(member, []).append(part)
        return parts

    def truth(self, ids: Iterable[str], units: str) -> np.ndarray:
        """The targets of `ids` in `units`: the dataset's column (raw) or the transformed ``target``."""
        column = self.task.target if check_units(units) == "raw" else "target"
        return self.table.loc[list(ids), column].to_numpy(float)

    def from_transformed(self, values, units: str) -> np.ndarray:
        """Values in transformed units (a reference predictor's) expressed in `units`. To raw units through the
        inverse transform, and exactly so for a value that is some member's transformed target (an edge
        constant is the raw label itself, not exp(log(label)) one rounding away)."""
        values = np.asarray(values, dtype=float)
        if check_units(units) == "transformed" or self.task.transform == "none":
            return values
        inverse = self.task.inverse_transform_target(values)
        return np.array([self._to_raw.get(float(v), float(w)) for v, w in zip(values, inverse)], dtype=float)

    def summary_in(self, units: str, parts: Iterable[str] = PARTS) -> dict:
        """The split summary with each part's min / max in `units`; the member ids of the parts not in `parts`
        left out (extrapbench.evaluation.runs.check_predictions then asks for no rows of them)."""
        parts = set(parts)
        summary = dict(self.summary)
        for part in PARTS:
            entry = dict(self.summary[part])
            values = self.truth(self.ids(part), units)
            entry.update({"min": float(values.min()), "max": float(values.max())})
            if part not in parts:
                entry.pop("ids", None)
            summary[part] = entry
        summary["units"] = units
        return summary

    def part_table(self, part: str, units: str = "raw", targets: bool = True, cif: bool = False) -> pd.DataFrame:
        """One row per member of `part`: id, composition, structure (a pymatgen Structure, or its CIF text with
        `cif`; only for a dataset with structures) and, with `targets`, ``target`` in `units` beside
        ``target_raw`` and ``target_transformed``."""
        ids = self.ids(part)
        rows = self.table.loc[ids]
        frame = pd.DataFrame({"id": ids})
        if "composition" in rows.columns:
            frame["composition"] = rows["composition"].astype(str).to_numpy()
        if "structure" in rows.columns:
            frame["structure"] = [s.to(fmt="cif") for s in rows["structure"]] if cif else list(rows["structure"])
        if targets:
            frame["target"] = self.truth(ids, units)
            frame["target_raw"] = rows[self.task.target].to_numpy(float)
            frame["target_transformed"] = rows["target"].to_numpy(float)
        return frame

    def describe(self) -> dict:
        """What a split file and a record say of the split: task, dataset, target, transform, side, parameters,
        the digests and each part's size and range in both units."""
        out = {key: self.summary[key] for key in ("task", "dataset", "target", "transform", "split", "side",
                                                    "split_params", "split_ties", "tie_rule", "n_total")}
        out.update({"split_digest": self.digest, "dataset_digest": self.dataset_digest})
        for part in PARTS:
            raw, transformed = self.truth(self.ids(part), "raw"), self.truth(self.ids(part), "transformed")
            out[part] = {"n": len(raw), "raw": [float(raw.min()), float(raw.max())],
                         "transformed": [float(transformed.min()), float(transformed.max())]}
        return out


def load_task_split(config: Mapping[str, Any], task_id: str, tasks: Mapping[str, Task] | None = None,
                    tables: Dict[str, pd.DataFrame] | None = None) -> TaskSplit:
    """Task `task_id`'s split under the resolved `config`, as the workflow's split rule makes it (a random twin
    takes its range task's part sizes, as the rule reads them from that task's split). `tables` caches dataset
    tables by name between calls."""
    tasks = config_tasks(config) if tasks is None else tasks
    if task_id not in tasks:
        raise KeyError(f"no task {task_id!r} in this config: the config's tasks are "
                       f"{selected_tasks(config)}; every task it can name: {sorted(tasks)}")
    task = tasks[task_id]
    tables = {} if tables is None else tables
    if task.dataset not in tables:
        tables[task.dataset] = dataset_table(config, task.dataset)
    if "sizes_like" in task.split_params:
        like = load_task_split(config, task.split_params["sizes_like"], tasks, tables).summary
        params = {k: v for k, v in task.split_params.items() if k != "sizes_like"}
        task = dataclasses.replace(task, split_params={**params, "n_test": like["test"]["n"],
                                                       "n_val": like["val"]["n"]})
    table = task_table(task, tables[task.dataset])
    ties = config.get("split_ties")
    summary = make_split(task, table, split_ties=ties, min_part_size=config.get("min_part_size"))
    frame = split_frame(summary, table)
    return TaskSplit(task=task, summary=summary, table=table, frame=frame, digest=split_digest(frame),
                     dataset_digest=dataset_digest(config, task.dataset), split_ties=ties)
