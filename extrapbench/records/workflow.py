"""The workflow's side of records: its own record, built from its run folders, and other people's records shown as
external rows of its tables.

* :func:`record_from_runs` builds the record (the format of extrapbench.records.record, checked by write_record) of
  a workflow run: the resolved config, per task the dataset digest, the split digest the split rule wrote into
  ``results/splits/{task}.json`` and the split's part sizes and ranges, and per entry and seed the predictions
  (id -> y_pred), the metrics (its metrics.json, ``method`` naming the entry) and the run's provenance.json
  (optional key ``provenance`` beside predictions and metrics). A trained run is entry
  ``<backbone>/<method>`` (role model, params backbone and method); a reference predictor is one entry named as
  the config names it (role reference, its params), its runs read once per task (they are the same for every
  backbone). The units are the workflow's: ``transformed`` (each task's transform of its target).
* :func:`external_rows` reads the config's ``records`` and gives the per-seed metric rows of their model entries,
  for the tasks whose split digest equals the run's own, as rows of a block of their own (backbone
  :data:`EXTERNAL_BACKBONE`) named ``ext: <entry>`` (:data:`EXTERNAL_PREFIX`), beside copies of the run's reference
  rows on those tasks, so a † there compares them with this run's edge_train. The tables never rank or mark them.
  A task whose digests differ stops with one line naming the task, the record and both digests (RecordError),
  or, with ``on_other_split="skip"``, is left out with a warning line and a note.
"""
from __future__ import annotations

import datetime as _datetime
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import pandas as pd

from extrapbench.naming import PARTS
from extrapbench.records.record import (RECORD_FORMAT, RecordError, entries_on_a_task_twice, read_record,
                                        write_record)
from extrapbench.splits.digest import split_digest
from extrapbench.tasks import Task

log = logging.getLogger(__name__)

#: the units of everything a workflow run writes: each task's transform of its target
WORKFLOW_UNITS = "transformed"
#: the backbone column of the external rows: their block in every table
EXTERNAL_BACKBONE = "external"
#: the prefix of an external row's name
EXTERNAL_PREFIX = "ext: "
#: what to do with a record's task scored on another split than the run's
ON_OTHER_SPLIT = ("stop", "skip")
#: the split summary's keys a record's ``split`` repeats
SPLIT_KEYS = ("task", "dataset", "target", "transform", "split", "side", "split_params", "split_ties", "tie_rule",
              "n_total")


def read_split_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A split table (results/splits/{task}.csv: id, target, split), its floats read back exactly as written."""
    return pd.read_csv(path, dtype={"id": str}, float_precision="round_trip")


def split_file_digest(summary_path: str | os.PathLike, table_path: str | os.PathLike | None = None) -> str:
    """The split digest of a workflow split: the ``digest`` the split rule wrote into its summary, else (a summary
    written before the split rule wrote one) split_digest of its table."""
    summary = json.loads(Path(summary_path).read_text())
    if summary.get("digest"):
        return str(summary["digest"])
    if table_path is None:
        raise RecordError(f"{summary_path}: no split digest (written by an older split rule): rerun its split_task "
                          f"job, or give its table")
    return split_digest(read_split_csv(table_path))


# ----------------------------------------------------------------------------------------------------------
# the workflow's own record
# ----------------------------------------------------------------------------------------------------------

def run_folder_files(folder: str | os.PathLike) -> Tuple[Path, Path, Path]:
    """(metrics.json, predictions.csv, provenance.json) of a trained run's folder."""
    folder = Path(folder)
    return folder / "metrics.json", folder / "predictions.csv", folder / "provenance.json"


def _read_json(path: str | os.PathLike, what: str) -> Dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file (the {what} of a run)") from None
    except ValueError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc}); delete it and rerun the job that writes it") from None
    if not isinstance(document, dict):
        raise RecordError(f"{path}: expected a JSON object ({what}), got a {type(document).__name__}")
    return document


def _predictions(path: str | os.PathLike) -> Tuple[Dict[str, float], List[str]]:
    """id -> y_pred of a run's predictions.csv (an id in two parts, a tie under both_sides, once) and its parts."""
    frame = pd.read_csv(path, dtype={"id": str}, float_precision="round_trip")
    missing = [column for column in ("id", "split", "y_pred") if column not in frame.columns]
    if missing:
        raise RecordError(f"{path}: no column(s) {missing}: not a run's predictions.csv")
    first = frame.drop_duplicates("id", keep="first")
    parts = [part for part in PARTS if (frame["split"] == part).any()]
    return dict(zip(first["id"], first["y_pred"].astype(float).tolist())), parts


def _split_description(summary: Mapping[str, Any]) -> Dict[str, Any]:
    """What a record says of a split (the shape of extrapbench.records.task_data.TaskSplit.describe): the summary's
    task, dataset, target, transform, kind, side and parameters, and each part's size and range in both units
    (raw through the inverse transform of the summary's transformed range)."""
    out = {key: summary.get(key) for key in SPLIT_KEYS}
    task = Task(id=str(summary["task"]), dataset=str(summary["dataset"]), target=str(summary["target"]),
                transform=str(summary["transform"]), split=str(summary.get("split")),
                split_params=dict(summary.get("split_params") or {}))
    for part in PARTS:
        low, high = float(summary[part]["min"]), float(summary[part]["max"])
        raw = task.inverse_transform_target([low, high])
        out[part] = {"n": int(summary[part]["n"]), "raw": [float(raw[0]), float(raw[1])],
                     "transformed": [low, high]}
    return out


def record_from_runs(runs: Iterable[Tuple[str | os.PathLike, str | os.PathLike, str | os.PathLike]],
                     splits: Mapping[str, Tuple[str | os.PathLike, str | os.PathLike | None]], *,
                     config: Mapping[str, Any], references: Mapping[str, Mapping[str, Any] | None],
                     name: str = "workflow", config_source: str = "", provenance: Mapping[str, Any] | None = None,
                     dataset_digests: Mapping[str, str] | None = None) -> Dict[str, Any]:
    """The record of a workflow run. `runs`: (metrics.json, predictions.csv, provenance.json) per run, trained runs
    and reference predictors' alike (a reference's metrics.json lies in a backbone's run folder, its predictions
    and provenance in its own folder; a reference met again on another backbone is read once); which run a file
    is of is read from its metrics.json (task, backbone, method, seed). `splits`: task -> (split summary,
    split table) (results/splits/{task}.json, .csv). `references`: the config's reference predictors (name ->
    params): a run of one is a reference entry. `dataset_digests`: task -> its dataset's digest
    (extrapbench.data.sources.dataset_digest). `provenance`: of the job writing the record (default: this
    process's, extrapbench.provenance). The document is checked when written (write_record)."""
    from extrapbench.provenance import provenance as process_provenance

    tasks: Dict[str, Dict[str, Any]] = {}
    devices: List[str] = []
    for metrics_path, predictions_path, provenance_path in runs:
        metrics = _read_json(metrics_path, "metrics")
        task_id, method = str(metrics.get("task")), str(metrics.get("method"))
        if task_id not in splits:
            raise RecordError(f"{metrics_path}: a run of task {task_id!r}, whose split was not given")
        role = "reference" if method in references else "model"
        entry = method if role == "reference" else f"{metrics.get('backbone')}/{method}"
        seed = str(int(metrics["seed"]))
        task = tasks.setdefault(task_id, {"entries": {}, "parts": None})
        content = task["entries"].setdefault(entry, {
            "role": role,
            "params": (dict(references[method] or {}) if role == "reference"
                       else {"backbone": metrics.get("backbone"), "method": method}),
            "seeds": {}})
        if seed in content["seeds"]:
            if role == "reference":
                continue  # the same predictions, evaluated into another backbone's folder
            raise RecordError(f"{metrics_path}: a second run of task {task_id}, entry {entry}, seed {seed}")
        predictions, parts = _predictions(predictions_path)
        run_provenance = _read_json(provenance_path, "provenance")
        if role == "model" and run_provenance.get("device"):
            devices.append(str(run_provenance["device"]))
        content["seeds"][seed] = {"predictions": predictions,
                                  # named by its entry, as a record made by extrapbench.api names them
                                  "metrics": {**metrics, "method": entry, "units": WORKFLOW_UNITS, "parts": parts},
                                  "provenance": run_provenance}
        # the task's parts: those every seed of every entry predicted
        task["parts"] = parts if task["parts"] is None else [p for p in task["parts"] if p in parts]
    if not tasks:
        raise RecordError("no runs to record")
    documents = {}
    for task_id in [t for t in splits if t in tasks]:
        summary_path, table_path = splits[task_id]
        summary = _read_json(summary_path, "split summary")
        task = tasks[task_id]
        documents[task_id] = {
            "dataset": summary.get("dataset"),
            "dataset_digest": (dataset_digests or {}).get(task_id),
            "split_digest": split_file_digest(summary_path, table_path),
            "target": summary.get("target"), "transform": summary.get("transform"), "side": summary.get("side"),
            "units": WORKFLOW_UNITS, "parts": task["parts"], "split": _split_description(summary),
            "entries": {entry: {**content, "seeds": dict(sorted(content["seeds"].items(), key=lambda s: int(s[0])))}
                        for entry, content in task["entries"].items()}}
    device = "; ".join(dict.fromkeys(devices)) or None
    return {"format": RECORD_FORMAT, "name": str(name),
            "created": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
            "units": WORKFLOW_UNITS, "config_source": config_source, "config": dict(config),
            "references": {str(k): dict(v or {}) for k, v in references.items()},
            "provenance": (dict(provenance) if provenance is not None
                           else process_provenance("cpu (writing the record)")),
            "device": device, "tasks": documents}


def write_workflow_record(path: str | os.PathLike, *args, **kwargs) -> Path:
    """record_from_runs(*args, **kwargs), checked and written to `path` (gzipped JSON)."""
    return write_record(record_from_runs(*args, **kwargs), path)


# ----------------------------------------------------------------------------------------------------------
# other people's records in the workflow's tables
# ----------------------------------------------------------------------------------------------------------

@dataclass
class ExternalRows:
    """Per-seed metric rows (``runs``: the external rows and the copies of the run's reference rows, backbone
    EXTERNAL_BACKBONE; empty without records), the external rows' names (``methods``, in order) and the tables'
    notes on them."""

    runs: pd.DataFrame
    methods: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def with_runs(self, runs: pd.DataFrame) -> pd.DataFrame:
        """`runs` (the workflow's own per-run rows) and the external block's."""
        return runs if self.runs.empty else pd.concat([runs, self.runs], ignore_index=True)

    def backbone_order(self, runs: pd.DataFrame, backbone_order: Sequence[str] | None = None) -> List[str] | None:
        """The tables' backbone order with the external block last (`backbone_order` as given without rows)."""
        if not self.methods:
            return None if backbone_order is None else list(backbone_order)
        from extrapbench.naming import order_backbones

        own = [b for b in runs["backbone"].unique() if b != EXTERNAL_BACKBONE]
        return [*order_backbones(own, backbone_order), EXTERNAL_BACKBONE]

    def mark_roles(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A table's raw numbers with ``role`` "external" on the external rows."""
        if "role" in frame.columns and "method" in frame.columns:
            frame.loc[frame["method"].isin(self.methods), "role"] = "external"
        return frame


def _commit(document: Mapping[str, Any]) -> str:
    git = (document.get("provenance") or {}).get("git") or {}
    commit = str(git.get("commit") or "unknown")[:10]
    return commit + (", uncommitted changes" if git.get("dirty") else "")


def external_rows(record_paths: Sequence[str | os.PathLike], split_digests: Mapping[str, str],
                  own_runs: pd.DataFrame | None = None, references: Sequence[str] = (),
                  transforms: Mapping[str, str] | None = None, on_other_split: str = "stop") -> ExternalRows:
    """The external rows of `record_paths` on the tasks of `split_digests` (task -> the run's split digest): a
    record's task absent from them is not shown; one on another split stops (RecordError, one line naming the
    task, the record and both digests) or, with `on_other_split` "skip", is left out with a warning. A record
    in raw units stops on a task whose transform (`transforms`: task -> transform) is not "none": the tables
    are in transformed units. `own_runs` (the workflow's per-run rows) give the copies of its `references`
    rows in the external block."""
    if on_other_split not in ON_OTHER_SPLIT:
        raise ValueError(f"on_other_split must be one of {list(ON_OTHER_SPLIT)}, got {on_other_split!r}")
    records = [(str(path), read_record(path)) for path in record_paths]
    repeated = entries_on_a_task_twice(records)
    rows, methods, notes, shown_tasks = [], [], [], []
    for index, (source, document) in enumerate(records):
        labels, used, skipped = {}, [], []
        for task_id, task in document["tasks"].items():
            if task_id not in split_digests:
                log.info("%s: task %s is not in this table: not shown", source, task_id)
                continue
            ours, theirs = split_digests[task_id], task["split_digest"]
            if theirs != ours:
                message = (f"task {task_id}: record {source} was scored on split {theirs}, this run's split is "
                           f"{ours}: a record's rows join the tables only on the same split")
                if on_other_split == "stop":
                    raise RecordError(message + " (config records_other_split: skip leaves them out)")
                log.warning("%s; left out (records_other_split: skip)", message)
                skipped.append(task_id)
                continue
            transform = (transforms or {}).get(task_id, task.get("transform"))
            if document["units"] != WORKFLOW_UNITS and transform not in (None, "none"):
                raise RecordError(f"task {task_id}: record {source} is in {document['units']} units, this run's "
                                  f"tables in transformed units (the task's {transform} transform): score it "
                                  f"with --units transformed")
            used.append(task_id)
            for entry, content in task["entries"].items():
                if content["role"] != "model":
                    continue
                label = labels.setdefault(entry, EXTERNAL_PREFIX + (
                    f"{document.get('name') or 'record'}{index + 1}/{entry}" if entry in repeated else entry))
                if label not in methods:
                    methods.append(label)
                for seed, run in content["seeds"].items():
                    rows.append({**run["metrics"], "task": task_id, "backbone": EXTERNAL_BACKBONE,
                                 "method": label, "seed": int(seed)})
        shown_tasks += [t for t in used if t not in shown_tasks]
        if used and labels:
            rows_of = "; ".join(f"{label} (entry {entry!r})" for entry, label in labels.items())
            digests = ", ".join(f"{task} {split_digests[task][:12]}" for task in used)
            notes.append(f"{rows_of}: record {source} (name {document.get('name')!r}, commit {_commit(document)}, "
                         f"created {document.get('created') or 'unknown'}), on this run's splits ({digests})")
        if skipped:
            notes.append(f"record {source}: not shown on {', '.join(skipped)}: scored on another split than this "
                         f"run's (records_other_split: skip)")
    if methods:
        notes.append(f"{EXTERNAL_PREFIX}rows: other people's records (config `records`), in a block of their own "
                     f"({EXTERNAL_BACKBONE}) beside this run's reference rows on the same tasks; never ranked, "
                     f"never marked, absent from the average ranks.")
    frame = pd.DataFrame(rows)
    if not frame.empty and own_runs is not None and references:
        copies = own_runs[own_runs["method"].isin(list(references)) & own_runs["task"].isin(shown_tasks)]
        copies = copies.drop_duplicates(["task", "method", "seed"], keep="first").assign(backbone=EXTERNAL_BACKBONE)
        frame = pd.concat([frame, copies], ignore_index=True)
    if not frame.empty:
        from extrapbench.report.summary import collect

        frame = collect(frame.to_dict("records"))
    return ExternalRows(runs=frame, methods=methods, notes=notes)


def job_external_rows(snakemake, own_runs: pd.DataFrame, references: Sequence[str] = ()) -> ExternalRows:
    """The external rows of a table rule's job: its inputs ``records``, ``splits`` and ``split_tables`` (none
    without records: no rows) and its param ``records_other_split``."""
    records = list(getattr(snakemake.input, "records", None) or [])
    if not records:
        return ExternalRows(runs=pd.DataFrame())
    digests, transforms = {}, {}
    for summary_path, table_path in zip(snakemake.input.splits, snakemake.input.split_tables):
        summary = _read_json(summary_path, "split summary")
        digests[str(summary["task"])] = split_file_digest(summary_path, table_path)
        transforms[str(summary["task"])] = summary.get("transform")
    rows = external_rows(records, digests, own_runs, references, transforms,
                         on_other_split=getattr(snakemake.params, "records_other_split", None) or "stop")
    log.info("external rows %s from %d record(s)", rows.methods, len(records))
    return rows
