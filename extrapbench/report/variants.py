"""Run provenance (which registered method and hyper-parameters each config entry ran with) and Table 4: MEX
score-module variants (mlp, mlp+cos, cos), test MAE and GM, built with
:func:`extrapbench.report.tables.paper_table` on the MEX rows of the summary."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import display_name
from extrapbench.report.io import PathLike, read_json, write_table_files
from extrapbench.report.ranked_table import PaperTable
from extrapbench.report.summary import METRIC_LABELS
from extrapbench.report.tables import paper_table

log = logging.getLogger(__name__)

#: MEX's score-module variants in the paper's Table 4 order.
SCORE_ORDER = ("mlp", "mlp+cos", "cos")
#: Hyper-parameter that Fig. 6 puts on the x axis.
LAMBDA_KEY = "lambda_abs"


# ----------------------------------------------------------------------------------------------------------
# Run provenance: which registered method and hyper-parameters each method entry ran with
# ----------------------------------------------------------------------------------------------------------

def registered_method(record: Mapping[str, Any]) -> str:
    """The registered method a run's provenance record ran (``mex`` for the entry ``mex_cos``)."""
    if record.get("registered_method"):
        return str(record["registered_method"])
    # older provenance files: the alias lives in the resolved config (`mex_cos: {method: mex, ...}`)
    entry = (((record.get("config") or {}).get("resolved") or {}).get("methods") or {}).get(record.get("method"))
    if isinstance(entry, Mapping) and entry.get("method"):
        return str(entry["method"])
    return str(record.get("method"))


def read_run_provenance(provenance: Iterable[Mapping[str, Any] | PathLike]) -> pd.DataFrame:
    """One row per run from ``provenance.json`` records (dicts or paths): task, backbone, method, seed,
    registered_method, score, candidate_range, range_low, range_high (transformed units, from
    ``method_details``), lambda_abs, and ``method_config`` / ``train_config`` (the dicts, for matching)."""
    rows = []
    for record in provenance:
        if isinstance(record, (str, os.PathLike)):
            record = read_json(record)
        config = record.get("config") or {}
        method_config = dict(config.get("method") or {})
        details = record.get("method_details") or {}
        registered = registered_method(record)
        low = high = np.nan
        if details.get("candidate_range_transformed") is not None:
            low, high = (float(v) for v in details["candidate_range_transformed"])
        is_mex = registered == "mex"
        rows.append({
            "task": record.get("task"), "backbone": record.get("backbone"), "method": record.get("method"),
            "seed": int(record["seed"]) if record.get("seed") is not None else None,
            "registered_method": registered,
            "score": method_config.get("score", "mlp" if is_mex else None),
            "candidate_range": details.get("candidate_range", method_config.get("candidate_range")),
            "range_margin": method_config.get("range_margin"),
            "range_low": low, "range_high": high,
            "lambda_abs": method_config.get(LAMBDA_KEY),
            "method_config": method_config, "train_config": dict(config.get("train") or {}),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["task", "backbone", "method", "seed", "registered_method", "score",
                                     "candidate_range", "range_margin", "range_low", "range_high", "lambda_abs",
                                     "method_config", "train_config"])
    return frame


def mex_entries(provenance: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`read_run_provenance`'s frame whose registered method is MEX."""
    return provenance[provenance["registered_method"] == "mex"]


# ----------------------------------------------------------------------------------------------------------
# Table 4: MEX score-module variants
# ----------------------------------------------------------------------------------------------------------

def variant_label(method: str, score: str | None) -> str:
    """"mlp (MEX)", "cos (mex_cos)": the score module, then the config entry it came from."""
    return f"{score or '?'} ({display_name(method)})"


@dataclass
class VariantTables:
    """Table 4: one :class:`PaperTable` per metric over the MEX entries; ``entries`` maps each row label to
    the config entry (method) and its score module."""

    tables: dict[str, PaperTable]
    entries: pd.DataFrame  # label, method, score
    notes: list[str]

    ROW_HEADER = "Score module (entry)"

    def _markdown_table(self, table: PaperTable) -> str:
        lines = table.to_markdown().splitlines()
        lines[0] = lines[0].replace("| Method |", f"| {self.ROW_HEADER} |", 1)
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        parts = ["# Table 4: MEX score-module variants", ""]
        parts += [f"- {note}" for note in self.notes] + [""]
        for metric, table in self.tables.items():
            parts += [f"## {METRIC_LABELS.get(metric, metric)}", "", self._markdown_table(table)]
        return "\n".join(parts)

    def to_latex(self) -> str:
        parts = ["% Table 4: MEX score-module variants"] + [f"% {note}" for note in self.notes]
        for metric, table in self.tables.items():
            parts += ["", f"% --- {metric} ---",
                      table.to_latex().replace(" & Method & ", r" & Score module (entry) & ", 1)]
        return "\n".join(parts) + "\n"

    def to_frame(self) -> pd.DataFrame:
        frames = []
        for metric, table in self.tables.items():
            frame = table.to_frame().rename(columns={"method": "label"})
            frame = frame.merge(self.entries, on="label", how="left")
            frame.insert(0, "metric", metric)
            front = ["metric", "backbone", "label", "method", "score"]
            frames.append(frame[front + [c for c in frame.columns if c not in front]])
        return pd.concat(frames, ignore_index=True)

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        write_table_files(self, markdown_path, latex_path, csv_path)


def variant_tables(summary: pd.DataFrame, provenance: pd.DataFrame | Iterable[Mapping | PathLike],
                   metrics: Sequence[str] = ("mae", "gm"), task_order: Sequence[str] | None = None,
                   backbone_order: Sequence[str] | None = None, decimals: int = 3,
                   std_ddof: int | None = None, runs: pd.DataFrame | None = None) -> VariantTables:
    """Table 4 from the summary's rows of every method entry whose registered method is MEX (known from the
    runs' provenance), one row per backbone × entry, labelled by its ``score`` hyper-parameter. Cells, bold /
    average ranks as in :func:`paper_table` (ranked among the MEX entries of one backbone only), without bold /
    italics; ``std_ddof`` as there (default: the summary's). With ``runs`` (one row per run), each entry's cell
    also shows Δ and the paired t-test's p against the default-score entry (``mex``)."""
    if not isinstance(provenance, pd.DataFrame):
        provenance = read_run_provenance(provenance)
    mex = mex_entries(provenance)
    if mex.empty:
        raise ValueError("no run of a MEX entry among the provenance records: Table 4 needs MEX runs")
    entries = []
    for method, of_entry in mex.groupby("method", sort=False):
        scores = sorted({str(s) for s in of_entry["score"].dropna()})
        if len(scores) > 1:
            log.warning("MEX entry %s ran with several score modules %s; labelled by all", method, scores)
        entries.append({"method": method, "score": "/".join(scores) or None})
    entries = pd.DataFrame(entries)
    entries["label"] = [variant_label(m, s) for m, s in zip(entries["method"], entries["score"])]
    score_rank = {s: i for i, s in enumerate(SCORE_ORDER)}
    entries["_order"] = [(score_rank.get(s, len(SCORE_ORDER)), m.lower() != "mex", m)
                         for m, s in zip(entries["method"], entries["score"])]
    entries = entries.sort_values("_order").drop(columns="_order").reset_index(drop=True)

    rows = summary[summary["method"].isin(entries["method"])].copy()
    missing = sorted(set(entries["method"]) - set(rows["method"]))
    if rows.empty:
        raise ValueError(f"the summary has no rows of the MEX entries {list(entries['method'])}")
    rows["method"] = rows["method"].map(dict(zip(entries["method"], entries["label"])))
    label_order = list(entries["label"])
    tables = {metric: paper_table(rows, metric, method_order=label_order, backbone_order=backbone_order,
                                  task_order=task_order, decimals=decimals, std_ddof=std_ddof, marks=False)
              for metric in metrics if f"{metric}_mean" in rows.columns}
    if not tables:
        raise ValueError(f"the summary has none of the metrics {list(metrics)}")
    reference = _default_score_entry(entries)
    if runs is not None and reference is not None:
        for metric, table in tables.items():
            table.annotations = _paired_annotations(table, runs, entries, reference, metric, decimals)
    notes = ["Rows: every config entry whose registered method is MEX, labelled by its score module "
             "(mlp: 4-layer MLP on concat(z_s, z_l); mlp+cos: cosine of two 2-layer MLP projections; "
             "cos: cosine of z_s and z_l) and, in brackets, the entry's name.",
             "An ablation table: no bold / italics; the average rank compares the MEX entries of one backbone with "
             "each other only and never enters the main tables."]
    if runs is not None and reference is not None:
        notes.append(f"Δ, p: difference of each entry to {display_name(reference)} (the default score module) "
                     "over the seeds both ran, and the paired t-test's two-sided p (n/a: fewer than two paired "
                     "seeds or the same difference on every seed).")
    others = entries.groupby("score")["method"].apply(list)
    if any(len(v) > 1 for v in others):
        notes.append("Entries sharing a score module differ in another hyper-parameter (e.g. the candidate "
                     "range); see the candidate-range table.")
    if missing:
        notes.append("MEX entries with provenance but no summary rows (not shown): " + ", ".join(missing) + ".")
    return VariantTables(tables=tables, entries=entries, notes=notes)


# Not candidate_range.range_reference_entry: that one looks, per task and backbone, for the entry with the same
# hyper-parameters but a leak-free candidate range; this one picks the default score module among the entries.
def _default_score_entry(entries: pd.DataFrame) -> str | None:
    """The entry the variants are compared with: ``mex`` itself, else the first one with the mlp score."""
    if "mex" in set(entries["method"]):
        return "mex"
    mlp = entries[entries["score"] == "mlp"]
    return str(mlp["method"].iloc[0]) if len(mlp) else None


def _paired_annotations(table: PaperTable, runs: pd.DataFrame, entries: pd.DataFrame, reference: str,
                        metric: str, decimals: int) -> pd.DataFrame:
    """"Δ +0.012, p 0.04" per (backbone, label) x task for every entry but the reference."""
    from extrapbench.report.significance import paired_t

    method_of = dict(zip(entries["label"], entries["method"]))
    notes = pd.DataFrame("", index=table.mean.index, columns=table.tasks)
    if metric not in runs.columns:
        return notes
    for backbone, label in table.mean.index:
        method = method_of.get(label)
        if method is None or method == reference:
            continue
        for task in table.tasks:
            block = runs[(runs["task"] == task) & (runs["backbone"] == backbone)]
            x = block[block["method"] == method].set_index("seed")[metric].astype(float).dropna()
            y = block[block["method"] == reference].set_index("seed")[metric].astype(float).dropna()
            seeds = sorted(set(x.index) & set(y.index))
            if not seeds:
                continue
            diff = x.loc[seeds].to_numpy() - y.loc[seeds].to_numpy()
            _, p, _ = paired_t(x.loc[seeds].to_numpy(), y.loc[seeds].to_numpy())
            notes.loc[(backbone, label), task] = (f"Δ {diff.mean():+.{decimals}f}, "
                                                  f"p {'n/a' if pd.isna(p) else f'{p:.2g}'}")
    return notes
