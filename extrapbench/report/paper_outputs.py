"""The paper's remaining outputs (SPEC §7) besides Tables 2/3/6 and Figs 3-5.

* :func:`split_table` — Table 1: per task, sample counts and train/val/test label ranges, from the split JSONs.
* :func:`variant_tables` — Table 4: MEX score-module variants (mlp, mlp+cos, cos), test MAE and GM, built with
  :func:`extrapbench.report.tables.paper_table` on the MEX rows of the summary.
* :func:`running_time_table` — inference seconds per test sample per method and backbone, pooled over tasks
  and seeds, with the ratio to ERM.
* :func:`candidate_range_table` — MEX's candidate-range ablation: which range each MEX entry searched, the share
  of test labels outside it (from the runs' predictions), its test MAE and the difference to the reference range
  (the release's fixed prior, ``candidate_range: prior``; else ``train_margin``).
* :func:`plot_lambda_sensitivity` — Fig. 6: MEX test MAE against λ (``lambda_abs``) over the model-selection
  grid points, against ERM and the best baseline.

Tables other than Table 4 are :class:`TextTable` objects (Markdown, booktabs LaTeX and a raw-number CSV); every
table carries footnotes saying what its cells are. Labels are in transformed-target units throughout.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the workflow machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from extrapbench.report.figures import target_axis_label  # noqa: E402
from extrapbench.report.tables import (  # noqa: E402
    METRIC_LABELS, MISSING, PaperTable, _latex_escape, display_name, order_backbones, order_methods, order_tasks,
    paper_table, std_ddof_of, std_note)

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

#: MEX's score-module variants in the paper's Table 4 order.
SCORE_ORDER = ("mlp", "mlp+cos", "cos")
#: MEX's default candidate range (``extrapbench.methods.mex``): the release's fixed prior.
DEFAULT_CANDIDATE_RANGE = "prior"
#: Leak-free range kinds, in the order a reference entry for Δ is looked for among a task's MEX entries.
REFERENCE_CANDIDATE_RANGES = ("prior", "train_margin")
#: MEX hyper-parameters that only choose the candidate range (ignored when matching an entry to its reference).
RANGE_KEYS = ("candidate_range", "range_margin", "range_prior")
#: Hyper-parameter that Fig. 6 puts on the x axis.
LAMBDA_KEY = "lambda_abs"

_CANDIDATE_RANGE_LABELS = {
    "train_margin": "train range ± margin (leak-free)",
    "prior": "fixed prior (authors' release; default)",
    "dataset": "whole-dataset range (paper; leaks the test range)",
}


def _read_json(path: PathLike) -> dict:
    with open(path) as json_file:
        return json.load(json_file)


def _write_text(path: PathLike | None, text: str) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


def _fmt(value: Any, decimals: int = 2) -> str:
    """Fixed decimals, "—" for NaN/None, and no "-0.00"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = f"{float(value):.{decimals}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text


def _fmt_range(low: Any, high: Any, decimals: int = 2) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return MISSING
    return f"[{_fmt(low, decimals)}, {_fmt(high, decimals)}]"


#: Non-ASCII symbols the tables use, as LaTeX math (pdflatex has no text-mode Greek).
_LATEX_SYMBOLS = {"±": r"$\pm$", "×": r"$\times$", "Δ": r"$\Delta$", "λ": r"$\lambda$", "≠": r"$\neq$",
                  "∪": r"$\cup$", "≤": r"$\leq$", "≥": r"$\geq$", "α": r"$\alpha$", "—": "---"}


def latex_text(text: str) -> str:
    """Escape LaTeX specials, then spell the tables' non-ASCII symbols as math."""
    escaped = _latex_escape(text)
    for symbol, command in _LATEX_SYMBOLS.items():
        escaped = escaped.replace(symbol, command)
    return escaped


def _fmt_sig(value: Any, digits: int = 3) -> str:
    if value is None or pd.isna(value):
        return MISSING
    return f"{float(value):.{digits}g}"


# ----------------------------------------------------------------------------------------------------------
# A plain table with footnotes, rendered to Markdown / LaTeX / CSV
# ----------------------------------------------------------------------------------------------------------

@dataclass
class TextTable:
    """Display ``cells`` (strings, one list per row, under ``header``) plus the raw numbers (``frame``, what
    the CSV gets) and footnotes. ``align`` is "l" or "r" per column; ``bold`` marks (row, column) cells;
    ``group_rule_column``: a LaTeX ``\\midrule`` wherever this column's value changes (blank repeats)."""

    title: str
    header: list[str]
    cells: list[list[str]]
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    align: list[str] | None = None
    bold: set = field(default_factory=set)
    group_rule_column: int | None = None

    def _align(self) -> list[str]:
        return self.align or ["l"] * len(self.header)

    def to_markdown(self, heading_level: int | None = None) -> str:
        lines = []
        if heading_level:
            lines += ["#" * heading_level + " " + self.title, ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join(":---" if a == "l" else "---:" for a in self._align()) + "|")
        for r, row in enumerate(self.cells):
            shown = [f"**{text}**" if (r, c) in self.bold and text != MISSING else text
                     for c, text in enumerate(row)]
            lines.append("| " + " | ".join(s.replace("|", "\\|") for s in shown) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); title and notes as leading comments."""
        lines = [f"% {self.title}"] + [f"% {note}" for note in self.notes]
        lines.append(r"\begin{tabular}{" + "".join(self._align()) + "}")
        lines.append(r"\toprule")
        lines.append(" & ".join(latex_text(h) for h in self.header) + r" \\")
        lines.append(r"\midrule")
        previous = None
        for r, row in enumerate(self.cells):
            if self.group_rule_column is not None:
                key = row[self.group_rule_column]
                if previous is not None and key != previous:
                    lines.append(r"\midrule")
                previous = key
            shown = []
            for c, text in enumerate(row):
                text = "---" if text == MISSING else latex_text(text)
                shown.append(r"\textbf{%s}" % text if (r, c) in self.bold and text != "---" else text)
            lines.append(" & ".join(shown) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        """Write whichever of the three renderings are given a path (parent folders are created)."""
        _write_text(markdown_path, self.to_markdown())
        _write_text(latex_path, self.to_latex())
        if csv_path is not None:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            self.frame.to_csv(csv_path, index=False)


# ----------------------------------------------------------------------------------------------------------
# Table 1: splits
# ----------------------------------------------------------------------------------------------------------

PARTS = ("train", "val", "test")


def split_rule_text(summary: Mapping[str, Any]) -> str:
    """Short description of a task's split for the split tables: the side of a range split, the held-out
    elements, the element counts."""
    kind, params = summary.get("split", "range"), summary.get("split_params") or {}
    if kind == "range":
        return str(summary.get("side") or MISSING)
    if kind == "held_out_elements":
        joiner = " and " if params.get("match", "all") == "all" else " or "
        return "test: contains " + joiner.join(params.get("elements", []))
    if kind == "element_count":
        return (f"train: ≤{params.get('train_max_elements', 2)} elements, "
                f"test: ≥{params.get('test_min_elements', 3)}")
    return str(kind)


def split_table(split_json_paths: Iterable[PathLike], task_order: Sequence[str] | None = None,
                decimals: int = 2,
                title: str = "Table 1: extrapolation tasks, sample counts and label ranges") -> TextTable:
    """Table 1 from ``results/splits/{task}.json``: counts (total, train, val, test) and "[min, max]" label
    ranges per part, rounded to ``decimals`` (the CSV keeps full precision). Rows in the paper's task order."""
    summaries = {}
    for path in split_json_paths:
        summary = _read_json(path)
        summaries[summary.get("task", Path(path).stem)] = summary
    if not summaries:
        raise ValueError("no split summaries given")
    records, cells = [], []
    for task in order_tasks(summaries, task_order):
        s = summaries[task]
        record = {"task": task, "dataset": s.get("dataset"), "target": s.get("target"),
                  "transform": s.get("transform"), "split": s.get("split", "range"), "side": s.get("side"),
                  "split_rule": split_rule_text(s), "n_total": s.get("n_total")}
        for part in PARTS:
            record[f"n_{part}"] = s[part]["n"]
        for part in PARTS:
            record[f"{part}_min"], record[f"{part}_max"] = s[part]["min"], s[part]["max"]
        record["tie_rule"] = s.get("tie_rule")
        records.append(record)
        n_total = record["n_total"] if record["n_total"] is not None else sum(s[p]["n"] for p in PARTS)
        cells.append([task, str(s.get("dataset") or MISSING), target_axis_label(s), split_rule_text(s),
                      f"{int(n_total):,}", *(f"{int(s[p]['n']):,}" for p in PARTS),
                      *(_fmt_range(s[p]["min"], s[p]["max"], decimals) for p in PARTS)])
    frame = pd.DataFrame(records)
    notes = [f"Label ranges are [min, max] of the transformed target (ln for log-transformed tasks), rounded to "
             f"{decimals} decimals; the CSV holds the exact values."]
    if all(s.get("split", "range") == "range" for s in summaries.values()):
        notes.append("Range split (SPEC §2): the 15% most extreme labels on the task's side are test, the next 15% "
                     "val, the rest train.")
    else:
        notes.append("Each task's parts follow its split rule (the split JSON's 'split' and 'split_params').")
        if any(s.get("split") in ("held_out_elements", "element_count") for s in summaries.values()):
            notes.append("Held-out-element and element-count splits (paper B) have no validation set of their "
                         "own: val is a seeded random 15% of the train pool; test is exactly the held-out set.")
    part_sum = frame[[f"n_{p}" for p in PARTS]].sum(axis=1)
    unassigned = frame["n_total"].notna() & (frame["n_total"] > part_sum)
    if unassigned.any():
        notes.append("total > train + val + test for " + ", ".join(frame.loc[unassigned, "task"])
                     + ": some rows were assigned to no part (see the split's tie_rule / split rule).")
    shared = frame["n_total"].notna() & (frame["n_total"] < part_sum)
    if shared.any():
        notes.append("total < train + val + test for " + ", ".join(frame.loc[shared, "task"])
                     + ": materials whose label equals a cut are counted in both neighbouring parts "
                       "(split_ties: both_sides, the MEX authors' rule).")
    tie_rules = sorted({str(r) for r in frame["tie_rule"].dropna() if str(r)})
    if len(tie_rules) == 1:
        notes.append(f"Ties at a cut: {tie_rules[0]}.")
    all_range = all(s.get("split", "range") == "range" for s in summaries.values())
    header = ["Task", "Dataset", "Target", "Side" if all_range else "Split", "Total", "Train", "Val", "Test",
              "Train range", "Val range", "Test range"]
    return TextTable(title, header, cells, frame, notes,
                     align=["l"] * 4 + ["r"] * 7)


# ----------------------------------------------------------------------------------------------------------
# Run provenance: which registered method and hyper-parameters each method entry ran with
# ----------------------------------------------------------------------------------------------------------

def _registered_method(record: Mapping[str, Any]) -> str:
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
            record = _read_json(record)
        config = record.get("config") or {}
        method_config = dict(config.get("method") or {})
        details = record.get("method_details") or {}
        registered = _registered_method(record)
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


def _mex_entries(provenance: pd.DataFrame) -> pd.DataFrame:
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
        _write_text(markdown_path, self.to_markdown())
        _write_text(latex_path, self.to_latex())
        if csv_path is not None:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            self.to_frame().to_csv(csv_path, index=False)


def variant_tables(summary: pd.DataFrame, provenance: pd.DataFrame | Iterable[Mapping | PathLike],
                   metrics: Sequence[str] = ("mae", "gm"), task_order: Sequence[str] | None = None,
                   backbone_order: Sequence[str] | None = None, decimals: int = 3,
                   std_ddof: int | None = None) -> VariantTables:
    """Table 4 from the summary's rows of every method entry whose registered method is MEX (known from the
    runs' provenance), one row per backbone × entry, labelled by its ``score`` hyper-parameter. Cells, bold /
    italics and average ranks as in :func:`paper_table` (ranked among the MEX entries only); ``std_ddof`` as
    there (default: the summary's)."""
    if not isinstance(provenance, pd.DataFrame):
        provenance = read_run_provenance(provenance)
    mex = _mex_entries(provenance)
    if mex.empty:
        raise ValueError("no run of a MEX entry among the provenance records: Table 4 needs MEX runs")
    entries = []
    for method, runs in mex.groupby("method", sort=False):
        scores = sorted({str(s) for s in runs["score"].dropna()})
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
                                  task_order=task_order, decimals=decimals, std_ddof=std_ddof)
              for metric in metrics if f"{metric}_mean" in rows.columns}
    if not tables:
        raise ValueError(f"the summary has none of the metrics {list(metrics)}")
    notes = ["Rows: every config entry whose registered method is MEX, labelled by its score module "
             "(mlp: 4-layer MLP on concat(z_s, z_l); mlp+cos: cosine of two 2-layer MLP projections; "
             "cos: cosine of z_s and z_l) and, in brackets, the entry's name.",
             "Bold / italics and the average rank compare the MEX entries with each other only."]
    others = entries.groupby("score")["method"].apply(list)
    if any(len(v) > 1 for v in others):
        notes.append("Entries sharing a score module differ in another hyper-parameter (e.g. the candidate "
                     "range); see the candidate-range table.")
    if missing:
        notes.append("MEX entries with provenance but no summary rows (not shown): " + ", ".join(missing) + ".")
    return VariantTables(tables=tables, entries=entries, notes=notes)


# ----------------------------------------------------------------------------------------------------------
# Running time
# ----------------------------------------------------------------------------------------------------------

def pooled_mean_std(means: Sequence[float], stds: Sequence[float], counts: Sequence[int],
                    ddof: int = 1) -> tuple[float, float, int]:
    """Mean and std (with `ddof`) of all the underlying values, from per-group means, stds computed with the
    same ddof, and counts (a group of one has no std: it contributes no within-group spread). NaN groups are
    skipped; a single value overall has no std (NaN)."""
    frame = pd.DataFrame({"m": means, "s": stds, "n": counts}).dropna(subset=["m", "n"])
    frame = frame[frame["n"] > 0]
    total = int(frame["n"].sum())
    if total == 0:
        return math.nan, math.nan, 0
    mean = float((frame["n"] * frame["m"]).sum() / total)
    if total < 2:
        return mean, math.nan, total
    within = ((frame["n"] - ddof) * frame["s"].fillna(0.0) ** 2).sum()      # each group's sum of squares
    between = (frame["n"] * (frame["m"] - mean) ** 2).sum()
    return mean, float(math.sqrt((within + between) / (total - ddof))), total


def running_time_table(summary: pd.DataFrame, reference: str = "erm", metric: str = "seconds_per_sample",
                       method_order: Sequence[str] | None = None,
                       backbone_order: Sequence[str] | None = None, std_ddof: int | None = None) -> TextTable:
    """Inference seconds per test sample: rows = methods, columns = backbones; each cell the mean ± std
    over every (task, seed) run of that method and backbone (pooled exactly from the summary's per-task mean,
    std and n_seeds, with the summary's ddof: ``std_ddof``, default its ``std_ddof`` column, else 1), and its
    ratio to ``reference`` (ERM) computed on the tasks both ran."""
    ddof = std_ddof_of(summary, std_ddof)
    mean_column, std_column = f"{metric}_mean", f"{metric}_std"
    if mean_column not in summary.columns:
        raise ValueError(f"summary has no column {mean_column!r}")
    summary = summary.copy()
    if std_column not in summary.columns:
        summary[std_column] = np.nan
    backbones = order_backbones(summary["backbone"].unique(), backbone_order)
    methods = order_methods(summary["method"].unique(), method_order)
    records = []
    for method in methods:
        for backbone in backbones:
            rows = summary[(summary["method"] == method) & (summary["backbone"] == backbone)
                           & summary[mean_column].notna()]
            if rows.empty:
                continue
            mean, std, n_runs = pooled_mean_std(rows[mean_column], rows[std_column], rows["n_seeds"], ddof)
            ref = summary[(summary["method"] == reference) & (summary["backbone"] == backbone)
                          & summary[mean_column].notna()]
            common = sorted(set(rows["task"]) & set(ref["task"]))
            ratio = math.nan
            if common:
                method_common = pooled_mean_std(*(rows[rows["task"].isin(common)][c] for c in
                                                  (mean_column, std_column, "n_seeds")))[0]
                ref_common = pooled_mean_std(*(ref[ref["task"].isin(common)][c] for c in
                                               (mean_column, std_column, "n_seeds")))[0]
                ratio = method_common / ref_common if ref_common > 0 else math.nan
            records.append({"method": method, "backbone": backbone, "seconds_per_sample_mean": mean,
                            "seconds_per_sample_std": std, "n_runs": n_runs, "n_tasks": int(rows["task"].nunique()),
                            f"ratio_to_{reference}": ratio, "n_tasks_in_ratio": len(common)})
    frame = pd.DataFrame(records)
    if frame.empty:
        raise ValueError(f"summary has no {mean_column} values")
    header = ["Method"]
    for backbone in backbones:
        header += [f"{display_name(backbone)}: s / sample", f"{display_name(backbone)}: × {display_name(reference)}"]
    cells = []
    for method in methods:
        row = [display_name(method)]
        for backbone in backbones:
            match = frame[(frame["method"] == method) & (frame["backbone"] == backbone)]
            if match.empty:
                row += [MISSING, MISSING]
                continue
            r = match.iloc[0]
            row.append(f"{_fmt_sig(r['seconds_per_sample_mean'])} ± {_fmt_sig(r['seconds_per_sample_std'], 2)}"
                       if not pd.isna(r["seconds_per_sample_std"]) else _fmt_sig(r["seconds_per_sample_mean"]))
            row.append(MISSING if pd.isna(r[f"ratio_to_{reference}"]) else f"{r[f'ratio_to_{reference}']:.2f}")
        cells.append(row)
    notes = ["Seconds per test sample of the timed test-set prediction (after a warm-up batch): mean ± std "
             f"({std_note(ddof)}) over all tasks and seeds of the method and backbone.",
             f"× {display_name(reference)}: the method's mean over the tasks that {display_name(reference)} also "
             f"ran, divided by {display_name(reference)}'s mean over the same tasks.",
             "Timings depend on the machine and batch size each run had (see each run's provenance.json "
             "'device'); compare within a backbone column, and only between runs on the same hardware."]
    runs = sorted({int(n) for n in frame["n_runs"]})
    notes.append("runs per cell: " + "/".join(map(str, runs)) + ".")
    if len(runs) == 1 and runs[0] < 2:
        notes.append("A single run per cell: no standard deviation.")
    return TextTable("Running time: inference seconds per test sample", header, cells, frame, notes,
                     align=["l"] + ["r"] * (len(header) - 1))


# ----------------------------------------------------------------------------------------------------------
# Candidate-range ablation
# ----------------------------------------------------------------------------------------------------------

def _config_differences(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    keys = sorted((set(a) | set(b)) - set(RANGE_KEYS))
    return [prefix + k for k in keys if a.get(k) != b.get(k)]


def _reference_entry(entry: pd.Series, candidates: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The leak-free entry to compare ``entry`` with: a train_margin entry of the same task and backbone whose
    hyper-parameters equal the entry's apart from the range keys; else one with the same score module (MEX's
    own entry "mex" first); else none. Returns (method, differing hyper-parameters)."""
    if candidates.empty:
        return None, []

    def differences(other: pd.Series) -> list[str]:
        return (_config_differences(entry["method_config"], other["method_config"])
                + _config_differences(entry["train_config"], other["train_config"], "train."))

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


def read_test_labels(predictions_paths: Iterable[PathLike]) -> dict:
    """{(task, backbone, method, seed): test labels (transformed units)} from the runs' ``predictions.csv``
    (``.../runs/{task}/{backbone}/{method}/seed{seed}/predictions.csv``: columns split, y_true)."""
    labels = {}
    for path in predictions_paths:
        match = _PREDICTIONS_PATH.search(Path(path).as_posix())
        if match is None:
            raise ValueError(f"{path}: not a run's predictions file (.../{{task}}/{{backbone}}/{{method}}/"
                             "seed{seed}/predictions.csv)")
        frame = pd.read_csv(path)
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
    mex = _mex_entries(provenance)
    if mex.empty:
        raise ValueError("no run of a MEX entry among the provenance records")
    test_ranges = {}
    for path in split_json_paths or []:
        split = _read_json(path)
        test_ranges[split.get("task", Path(path).stem)] = (split["test"]["min"], split["test"]["max"])
    test_labels = read_test_labels(predictions_paths or [])

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
                reference, differs = _reference_entry(entry, references)
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
        used = _fmt_range(rec["range_low"], rec["range_high"])
        if rec["range_varies_over_seeds"]:
            used += " (first seed; varies)"
        std_text = MISSING if pd.isna(rec[f"{metric}_std"]) else _fmt(rec[f"{metric}_std"], decimals)
        value = MISSING if pd.isna(rec[f"{metric}_mean"]) else f"{_fmt(rec[f'{metric}_mean'], decimals)}({std_text})"
        if rec["reference"] is None:
            ref_text, delta = "none", MISSING
        elif rec["reference"] == rec["method"]:
            ref_text, delta = "(itself)", _fmt(0.0, decimals)
        else:
            ref_text = display_name(rec["reference"])
            if rec["reference_differs_in"]:
                ref_text += f" (differs in {rec['reference_differs_in'].replace(',', ', ')})"
            delta = MISSING if pd.isna(rec[f"delta_{metric}"]) else f"{rec[f'delta_{metric}']:+.{decimals}f}"
        same_block = previous == (rec["task"], rec["backbone"])
        row = ["" if same_block else rec["task"], "" if same_block else display_name(rec["backbone"]),
               display_name(rec["method"]), str(rec["score"]), kind_text, used]
        if test_ranges:
            row.append(_fmt_range(rec.get("test_min"), rec.get("test_max")))
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


# ----------------------------------------------------------------------------------------------------------
# Fig. 6: sensitivity to λ
# ----------------------------------------------------------------------------------------------------------

_POINT_PATH = re.compile(r"(?P<task>[^/]+)/(?P<backbone>[^/]+)/(?P<method>[^/]+)/(?P<point>p\d+)/[^/]+$")


def read_point_metrics(point_metrics_paths: Iterable[PathLike], metric: str = "mae") -> dict:
    """{(task, backbone, method, point): metric} from the grid points' metrics.json files
    (``results/selection/{task}/{backbone}/{method}/{point}/metrics.json``)."""
    values = {}
    for path in point_metrics_paths:
        record = _read_json(path)
        match = _POINT_PATH.search(Path(path).as_posix())
        if match is not None:
            key = (match["task"], match["backbone"], match["method"], match["point"])
        elif all(k in record for k in ("task", "backbone", "method", "point")):
            key = (record["task"], record["backbone"], record["method"], record["point"])
        else:
            raise ValueError(f"{path}: not inside a .../{{task}}/{{backbone}}/{{method}}/{{point}}/ folder")
        value = record.get(metric)
        values[key] = math.nan if value is None else float(value)
    return values


def lambda_curves(selected: Iterable[Mapping | PathLike], point_metrics: Mapping | Iterable[PathLike],
                  lambda_key: str = LAMBDA_KEY, metric: str = "mae") -> pd.DataFrame:
    """One row per grid point on the λ curve of each selection: the points whose hyper-parameters other than
    ``lambda_key`` equal the selected point's, with their λ, val MAE (from selected.json) and test ``metric``
    (from the point's metrics.json). A selection whose grid has no ``lambda_key`` gives one row with
    ``lambda_in_grid`` False (and λ NaN)."""
    if not isinstance(point_metrics, Mapping):
        point_metrics = read_point_metrics(point_metrics, metric)
    rows = []
    for record in selected:
        if isinstance(record, (str, os.PathLike)):
            record = _read_json(record)
        key = (record["task"], record["backbone"], record["method"])
        chosen = dict(record.get("selected_params") or {})
        base = {"task": key[0], "backbone": key[1], "method": key[2], "seed": record.get("seed"),
                "selected_point": record.get("selected")}
        if lambda_key not in chosen:
            rows.append({**base, "point": record.get("selected"), "lambda": math.nan, "lambda_in_grid": False,
                         "val_mae": math.nan, f"test_{metric}": point_metrics.get((*key, record.get("selected")),
                                                                                  math.nan), "is_selected": True})
            continue
        others = {k: v for k, v in chosen.items() if k != lambda_key}
        for point in record.get("points", []):
            params = point.get("params") or {}
            if lambda_key not in params or {k: v for k, v in params.items() if k != lambda_key} != others:
                continue
            rows.append({**base, "point": point["point"], "lambda": float(params[lambda_key]),
                         "lambda_in_grid": True, "val_mae": point.get("val_mae", math.nan),
                         f"test_{metric}": point_metrics.get((*key, point["point"]), math.nan),
                         "is_selected": point["point"] == record.get("selected")})
    columns = ["task", "backbone", "method", "seed", "selected_point", "point", "lambda", "lambda_in_grid",
               "val_mae", f"test_{metric}", "is_selected"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["task", "backbone", "method", "lambda"], kind="stable").reset_index(drop=True)


def _baseline_lines(summary: pd.DataFrame, task: str, backbone: str, reference: str, exclude: set,
                    metric: str) -> tuple[float, tuple[str, float] | None]:
    rows = summary[(summary["task"] == task) & (summary["backbone"] == backbone)]
    rows = rows[rows[f"{metric}_mean"].notna()] if f"{metric}_mean" in rows.columns else rows.iloc[0:0]
    reference_rows = rows[rows["method"] == reference]
    reference_value = float(reference_rows[f"{metric}_mean"].iloc[0]) if len(reference_rows) else math.nan
    baselines = rows[(rows["method"] != reference) & ~rows["method"].isin(exclude)
                     & ~rows["method"].str.lower().str.startswith("mex")]
    best = None
    if len(baselines):
        row = baselines.loc[baselines[f"{metric}_mean"].idxmin()]
        best = (row["method"], float(row[f"{metric}_mean"]))
    return reference_value, best


def plot_lambda_sensitivity(selected: Iterable[Mapping | PathLike], point_metrics: Mapping | Iterable[PathLike],
                            summary: pd.DataFrame | PathLike, png_path: PathLike, pdf_path: PathLike | None = None,
                            lambda_key: str = LAMBDA_KEY, reference: str = "erm", metric: str = "mae",
                            task_order: Sequence[str] | None = None,
                            backbone_order: Sequence[str] | None = None) -> plt.Figure:
    """Fig. 6: a panel per task; per backbone (colour) and MEX entry (marker), the test ``metric`` of the
    selection grid points along λ with every other hyper-parameter at its selected value (one seed: the
    selection seed), the selected point starred, and the final runs' mean ± std over seeds at the selected λ.
    Horizontal lines: ERM's mean test MAE (dashed) and the best other baseline's (dotted), from the summary.
    A panel whose grid had no λ says so instead of drawing a curve."""
    if not isinstance(summary, pd.DataFrame):
        summary = pd.read_csv(summary)
    curves = lambda_curves(list(selected), point_metrics, lambda_key, metric)
    value_column = f"test_{metric}"
    tasks = order_tasks(list(curves["task"].unique()) or list(summary["task"].unique()), task_order)
    if not tasks:
        raise ValueError("no selections and no summary rows to plot")
    backbones = order_backbones(list(curves["backbone"].unique()) or list(summary["backbone"].unique()),
                                backbone_order)
    mex_methods = order_methods(curves["method"].unique())
    colours = dict(zip(backbones, plt.get_cmap("tab10")(np.arange(len(backbones)))))
    markers = dict(zip(mex_methods, "osD^v<>ph*"))

    n_columns = min(4, len(tasks))
    n_rows = math.ceil(len(tasks) / n_columns)
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(4.4 * n_columns, 3.6 * n_rows), squeeze=False)
    seeds = sorted({int(s) for s in curves["seed"].dropna()})
    for axis, task in zip(axes.flat, tasks):
        of_task = curves[curves["task"] == task]
        notes = []
        for backbone in backbones:
            colour = colours[backbone]
            for method in mex_methods:
                curve = of_task[(of_task["backbone"] == backbone) & (of_task["method"] == method)]
                if curve.empty:
                    continue
                if not curve["lambda_in_grid"].any():
                    notes.append(f"{display_name(backbone)}/{display_name(method)}: λ not in the selection grid")
                    continue
                label = f"{display_name(backbone)} {display_name(method)} (grid, seed "
                label += f"{int(curve['seed'].iloc[0])})" if not pd.isna(curve["seed"].iloc[0]) else "?)"
                axis.plot(curve["lambda"], curve[value_column], color=colour, marker=markers.get(method, "o"),
                          markersize=5, linewidth=1.2, label=label)
                chosen = curve[curve["is_selected"]]
                axis.scatter(chosen["lambda"], chosen[value_column], marker="*", s=160, color=colour,
                             edgecolors="black", linewidths=0.6, zorder=5)
                final = summary[(summary["task"] == task) & (summary["backbone"] == backbone)
                                & (summary["method"] == method)]
                if len(chosen) and len(final) and f"{metric}_mean" in final.columns:
                    std = final[f"{metric}_std"].iloc[0] if f"{metric}_std" in final.columns else math.nan
                    axis.errorbar(chosen["lambda"].iloc[0], final[f"{metric}_mean"].iloc[0],
                                  yerr=None if pd.isna(std) else std, fmt="o", mfc="white", color=colour,
                                  capsize=3, zorder=4,
                                  label=f"{display_name(backbone)} {display_name(method)} final runs "
                                        f"(mean ± std over {int(final['n_seeds'].iloc[0])} seeds)")
            ref_value, best = _baseline_lines(summary, task, backbone, reference, set(mex_methods), metric)
            if not math.isnan(ref_value):
                axis.axhline(ref_value, color=colour, linestyle="--", linewidth=1,
                             label=f"{display_name(backbone)} {display_name(reference)} (mean over seeds)")
            if best is not None:  # the best baseline differs per task: its name goes on the line
                axis.axhline(best[1], color=colour, linestyle=":", linewidth=1.4,
                             label=f"{display_name(backbone)} best other baseline (named on the line)")
                axis.annotate(display_name(best[0]), xy=(1.0, best[1]), xycoords=("axes fraction", "data"),
                              xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7,
                              color=colour)
        if of_task.empty:
            notes = ["no MEX selection grid for this task"]
        elif not of_task["lambda_in_grid"].any():
            notes = [f"λ ({lambda_key}) was not part of\nthe selection grid: no sensitivity curve"]
        if notes:
            axis.text(0.5, 0.5, "\n".join(notes), transform=axis.transAxes, ha="center", va="center", fontsize=8,
                      bbox={"facecolor": "#fff3cd", "edgecolor": "#c9a227", "alpha": 0.9})
        lambdas = sorted(of_task["lambda"].dropna().unique())
        if lambdas:
            axis.set_xticks(lambdas)
            axis.set_xticklabels([f"{v:g}" for v in lambdas])
        axis.set_title(task, fontsize=9)
        axis.set_xlabel(f"λ ({lambda_key})")
        axis.set_ylabel(f"test {metric.upper()}")
        axis.grid(linewidth=0.4, alpha=0.6)
    for axis in list(axes.flat)[len(tasks):]:
        axis.set_visible(False)
    legend = {}  # one legend for the figure: the same backbone / method / baseline styles in every panel
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    legend["selected by val MAE"] = plt.Line2D([], [], marker="*", markersize=11, color="0.5",
                                               markeredgecolor="black", linestyle="none")
    figure.legend(list(legend.values()), list(legend.keys()), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=min(3, len(legend)), fontsize=7, frameon=False)
    seed_text = f"seed {', '.join(map(str, seeds))}" if seeds else "one seed"
    figure.suptitle(f"MEX sensitivity to λ: test {metric.upper()} of the selection grid points\n({seed_text}: a "
                    f"single seed per point; other hyper-parameters at their selected values)", fontsize=10)
    figure.tight_layout()
    for path in (png_path, pdf_path):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=150, bbox_inches="tight")
    return figure
