"""The record that travels: one gzipped JSON file (``record.json.gz``) holding everything needed to read a
model's extrapolation scores, and to compare them with another's, without the data.

Top level: ``format`` (RECORD_FORMAT), ``name`` (the model entry recorded by default), ``created``, ``units``
(raw | transformed: the units of every prediction and metric in the file), ``tolerance`` (of the verdicts),
``config_source`` and ``config`` (the resolved config: every schema default filled in), ``references`` (name ->
params of the reference predictors scored beside the model), ``provenance`` (extrapbench.provenance: git commit
and dirty flag, code digest, package versions, host, Python) and ``device`` (where the predictions were made, as
given, else null). Per task under ``tasks``: ``dataset``, ``dataset_digest``, ``split_digest``
(extrapbench.splits.task_split.split_digest), ``target``, ``transform``, ``side``, ``units``, ``parts`` (the
parts predicted: test, val and train when given), ``split`` (part sizes and ranges in both units) and
``entries``: per entry ``role`` (model | reference), ``params`` and per seed ``predictions`` (id -> y_pred, in
``units``), ``metrics`` (a workflow run's metrics.json, in ``units``) and, in a workflow's own record
(extrapbench.records.workflow), ``provenance`` (the run's provenance.json).

`read_record` checks all of it and names the file and the key of every problem.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List

from extrapbench.files import write_atomic
from extrapbench.naming import PARTS

#: raw: the dataset's own values; transformed: the task's transform of them (what the workflow trains on)
UNITS = ("raw", "transformed")
RECORD_FORMAT = "extrapbench-record/1"
ROLES = ("model", "reference")
TOP_KEYS = ("format", "name", "units", "config", "references", "provenance", "tasks")
TASK_KEYS = ("dataset", "dataset_digest", "split_digest", "transform", "units", "parts", "entries")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: problems listed in one error at most; the rest are counted
MAX_PROBLEMS = 5


class RecordError(ValueError):
    """A record file that is not one, or one that contradicts itself or another record; names file and key."""


def write_record(document: Dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `document` (checked first: a record that would not read back is never written) gzipped, atomically."""
    problems = record_problems(document)
    if problems:
        raise RecordError(_message(str(path), problems))
    text = json.dumps(document, indent=None, sort_keys=False, allow_nan=False, default=str)

    def write(tmp):
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as out:
            out.write(text)

    write_atomic(write, path)
    return Path(path)


def read_record(path: str | os.PathLike) -> Dict[str, Any]:
    """The record in `path`, checked (RecordError naming the file and each bad key)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{path}: not a gzipped JSON record ({type(exc).__name__}: {exc})") from None
    problems = record_problems(document)
    if problems:
        raise RecordError(_message(str(path), problems))
    return document


def _message(source: str, problems: List[str]) -> str:
    shown = problems[:MAX_PROBLEMS]
    more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
    return f"{source}: not a valid {RECORD_FORMAT} record: " + "; ".join(shown) + more


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def record_problems(document: Any) -> List[str]:
    """Every problem of a record document, each "at 'key.path': what is wrong"; [] for a valid one."""
    if not isinstance(document, dict):
        return [f"at '<top level>': expected an object, got a {type(document).__name__}"]
    if document.get("format") != RECORD_FORMAT:
        return [f"at 'format': expected {RECORD_FORMAT!r}, got {document.get('format')!r} (not a record of this "
                f"format version)"]
    problems = [f"at '{key}': missing" for key in TOP_KEYS if key not in document]
    if problems:
        return problems
    units = document["units"]
    if units not in UNITS:
        problems.append(f"at 'units': expected one of {list(UNITS)}, got {units!r}")
    for key in ("config", "references", "provenance"):
        if not isinstance(document[key], dict):
            problems.append(f"at '{key}': expected an object, got a {type(document[key]).__name__}")
    tasks = document["tasks"]
    if not isinstance(tasks, dict) or not tasks:
        return problems + ["at 'tasks': expected an object with at least one task"]
    for task_id, task in tasks.items():
        where = f"tasks.{task_id}"
        if not isinstance(task, dict):
            problems.append(f"at '{where}': expected an object")
            continue
        problems += [f"at '{where}.{key}': missing" for key in TASK_KEYS if key not in task]
        if any(key not in task for key in TASK_KEYS):
            continue
        if not (isinstance(task["split_digest"], str) and HEX64.match(task["split_digest"])):
            problems.append(f"at '{where}.split_digest': expected 64 hex digits, got {task['split_digest']!r}")
        if task["units"] != units:
            problems.append(f"at '{where}.units': {task['units']!r}, but the record's units are {units!r}")
        parts = task["parts"]
        if not (isinstance(parts, list) and "test" in parts and set(parts) <= set(PARTS)):
            problems.append(f"at '{where}.parts': expected a list of parts with 'test', got {parts!r}")
        entries = task["entries"]
        if not isinstance(entries, dict) or not entries:
            problems.append(f"at '{where}.entries': expected an object with at least one entry")
            continue
        for entry_name, entry in entries.items():
            problems += _entry_problems(f"{where}.entries.{entry_name}", entry, units)
    return problems


def _entry_problems(where: str, entry: Any, units: str) -> List[str]:
    if not isinstance(entry, dict):
        return [f"at '{where}': expected an object"]
    problems = []
    if entry.get("role") not in ROLES:
        problems.append(f"at '{where}.role': expected one of {list(ROLES)}, got {entry.get('role')!r}")
    seeds = entry.get("seeds")
    if not isinstance(seeds, dict) or not seeds:
        return problems + [f"at '{where}.seeds': expected an object seed -> predictions and metrics"]
    for seed, run in seeds.items():
        at = f"{where}.seeds.{seed}"
        if not re.fullmatch(r"\d+", str(seed)):
            problems.append(f"at '{at}': a seed is a non-negative integer, got {seed!r}")
        if not isinstance(run, dict):
            problems.append(f"at '{at}': expected an object with predictions and metrics")
            continue
        predictions = run.get("predictions")
        if not isinstance(predictions, dict) or not predictions:
            problems.append(f"at '{at}.predictions': expected an object id -> y_pred")
        else:
            bad = [str(i) for i, v in predictions.items() if not _is_number(v)]
            if bad:
                problems.append(f"at '{at}.predictions': {len(bad)} value(s) not a finite number, ids "
                                f"{', '.join(bad[:3])}")
        metrics = run.get("metrics")
        if not isinstance(metrics, dict):
            problems.append(f"at '{at}.metrics': expected an object")
        else:
            if not _is_number(metrics.get("mae")):
                problems.append(f"at '{at}.metrics.mae': expected a finite number, got {metrics.get('mae')!r}")
            if metrics.get("units") != units:
                problems.append(f"at '{at}.metrics.units': {metrics.get('units')!r}, but the record's units are "
                                f"{units!r}")
            if str(metrics.get("seed")) != str(seed):
                problems.append(f"at '{at}.metrics.seed': {metrics.get('seed')!r}, but it is filed under seed "
                                f"{seed}")
    return problems


def entries_on_a_task_twice(records) -> set:
    """Model entry names that two of `records` ((source, document) pairs) hold on the same task: such an entry is
    shown once per record (its name prefixed), any other as it is."""
    holders: dict = {}
    for _, document in records:
        for task_id, task in document["tasks"].items():
            for entry, content in task["entries"].items():
                if content["role"] == "model":
                    holders[(entry, task_id)] = holders.get((entry, task_id), 0) + 1
    return {entry for (entry, _), count in holders.items() if count > 1}
