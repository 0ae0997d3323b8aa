"""Records side by side: the MAE table with the reference rows, the skill table and the paired tests, built by the
report's own code (extrapbench.report: tables.paper_table, references.skill_table, beats_table.beats_table) from
per-seed metric rows, the rows a workflow run's metrics.json files give it.

Records are compared only where they can be: in the same units, and per task on the same split (the same split
digest); anything else is refused with one line. Each record's model entries become table rows, named by entry
(prefixed by the record's name and position where two records hold the same entry name on one task; a model scored
task by task into several records is one row); the reference rows come from the first record that holds them (on
one split they are the same predictions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import pandas as pd

from extrapbench.records.record import RecordError, entries_on_a_task_twice
from extrapbench.records.scoring import BACKBONE
from extrapbench.report.beats_table import beats_table
from extrapbench.report.references import EDGE_REFERENCE, skill_table
from extrapbench.report.summary import collect, summarize
from extrapbench.report.tables import paper_table


@dataclass
class Comparison:
    """The per-seed rows (`runs`, one per task, entry and seed), which rows are models and which references,
    and the tables (name -> a table with to_markdown / to_frame / write)."""

    runs: pd.DataFrame
    models: List[str]
    references: List[str]
    units: str
    tables: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def check_comparable(records: Sequence[Tuple[str, Dict[str, Any]]]) -> None:
    """Refuse records in different units, or a task whose split digests differ (RecordError, one line naming the
    task, both files and both digests)."""
    (first_source, first), *others = records
    for source, document in others:
        if document["units"] != first["units"]:
            raise RecordError(f"{source} is in {document['units']} units, {first_source} in {first['units']}: "
                              f"records compare only in the same units (score both with the same --units)")
    seen: Dict[str, Tuple[str, str]] = {}
    for source, document in records:
        for task_id, task in document["tasks"].items():
            digest = task["split_digest"]
            if task_id in seen and seen[task_id][1] != digest:
                raise RecordError(f"task {task_id}: split digest {seen[task_id][1]} in {seen[task_id][0]} differs "
                                  f"from {digest} in {source}: records compare only on the same split")
            seen.setdefault(task_id, (source, digest))


def comparison_runs(records: Sequence[Tuple[str, Dict[str, Any]]]) -> Comparison:
    """The per-seed metric rows of every record (checked comparable first)."""
    check_comparable(records)
    # an entry name is one row across records unless two records hold it on the same task (then each is prefixed)
    names = entries_on_a_task_twice(records)
    rows, models, references, seen_reference, notes = [], [], [], set(), []
    for index, (source, document) in enumerate(records):
        labels: Dict[str, str] = {}
        for task_id, task in document["tasks"].items():
            for entry, content in task["entries"].items():
                if content["role"] == "model":
                    label = labels.setdefault(entry, _label(entry, document, index, names))
                    if label not in models:
                        models.append(label)
                else:
                    label = entry
                    if label not in references:
                        references.append(label)
                for seed, run in content["seeds"].items():
                    key = (task_id, label, int(seed))
                    if content["role"] == "reference":
                        if key in seen_reference:
                            continue
                        seen_reference.add(key)
                    rows.append({**run["metrics"], "task": task_id, "backbone": BACKBONE, "method": label,
                                 "seed": int(seed)})
        for entry, label in labels.items():
            if label != entry:
                notes.append(f"{label}: entry {entry!r} of {source}")
    return Comparison(runs=collect(rows), models=models, references=references, units=records[0][1]["units"],
                      notes=notes)


def _label(entry: str, document: Dict[str, Any], index: int, names: set) -> str:
    """An entry's row name: the entry itself, or "<record name><position>/<entry>" where two records hold the same
    entry name on one task."""
    if entry not in names:
        return entry
    return f"{document.get('name') or 'record'}{index + 1}/{entry}"


def compare_records(records: Sequence[Tuple[str, Dict[str, Any]]], alpha: float = 0.05,
                    std_ddof: int = 1) -> Comparison:
    """The tables of `records` ((source, document) pairs): ``mae`` (the paper-style table, reference rows under the
    models, † where a model does not beat the train edge), ``skill`` (against edge_train) and ``paired`` (paired
    t-tests over seeds against the first record's model and against edge_train). The skill and paired tables
    need the edge_train reference (a range task)."""
    comparison = comparison_runs(records)
    runs = comparison.runs
    summary = summarize(runs, method_order=comparison.models, std_ddof=std_ddof)
    comparison.tables["mae"] = paper_table(summary, "mae", methods=comparison.models,
                                           references=comparison.references, std_ddof=std_ddof,
                                           extra_notes=[f"units: {comparison.units}"] + comparison.notes)
    if (runs["method"] == EDGE_REFERENCE).any():
        comparison.tables["skill"] = skill_table(runs, methods=comparison.models, references=comparison.references,
                                                 std_ddof=std_ddof)
        comparison.tables["paired"] = beats_table(runs, methods=comparison.models, std_ddof=std_ddof, alpha=alpha,
                                                  erm=comparison.models[0])
    else:
        comparison.notes.append(f"no {EDGE_REFERENCE} reference in the records (no range task): no skill or "
                                f"paired-test table")
    return comparison
