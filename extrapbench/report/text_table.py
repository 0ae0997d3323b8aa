"""A plain table with footnotes (Markdown, booktabs LaTeX, raw-number CSV) and the formatting helpers the
report's tables share."""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from extrapbench.report.summary import MISSING, _latex_escape

PathLike = str | os.PathLike


def _read_json(path: PathLike) -> dict:
    with open(path) as json_file:
        return json.load(json_file)


def save_figure(figure, png_path: PathLike, pdf_path: PathLike | None = None, dpi: int = 150) -> None:
    """Write a matplotlib figure to each given path (PNG, PDF), creating the folders."""
    for path in (png_path, pdf_path):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=dpi, bbox_inches="tight")


def _write_text(path: PathLike | None, text: str) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


def write_table_files(table, markdown_path=None, latex_path=None, csv_path=None) -> None:
    """Write whichever of a table's three renderings are given a path (parent folders are created): any object
    with ``to_markdown()``, ``to_latex()`` and ``to_frame()``. Each rendering is built only when it is written."""
    if markdown_path is not None:
        _write_text(markdown_path, table.to_markdown())
    if latex_path is not None:
        _write_text(latex_path, table.to_latex())
    if csv_path is not None:
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        table.to_frame().to_csv(csv_path, index=False)


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
        write_table_files(self, markdown_path, latex_path, csv_path)


