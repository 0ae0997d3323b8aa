"""How the report's tables print numbers and text: fixed decimals, ranges, significant figures, p-values,
mean(std) cells and LaTeX escaping. The one module every table formats through.

Two spellings of "no value" are in use, on purpose: :data:`~extrapbench.report.summary.MISSING` ("—") in the
result tables, :data:`NA` ("n/a") in the statistical tests' tables, where it reads as "no test".
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from extrapbench.report.summary import MISSING

#: a test that could not be run (too few seeds, no reference), in the statistics tables
NA = "n/a"


def fmt(value: Any, decimals: int = 2) -> str:
    """Fixed decimals, "—" for NaN/None, and no "-0.00"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = f"{float(value):.{decimals}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text


def fmt_range(low: Any, high: Any, decimals: int = 2) -> str:
    """"[low, high]" with :func:`fmt`'s decimals; "—" when either end is missing."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return MISSING
    return f"[{fmt(low, decimals)}, {fmt(high, decimals)}]"


def fmt_sig(value: Any, digits: int = 3) -> str:
    """``digits`` significant figures ("—" for NaN/None): for values spanning orders of magnitude (timings)."""
    if value is None or pd.isna(value):
        return MISSING
    return f"{float(value):.{digits}g}"


# format_num is not fmt: the statistics and beats tables print "n/a" for a missing value (fmt: "—") and keep the
# sign of a value that rounds to zero ("-0.000"; fmt drops it).

def format_p(value: float) -> str:
    """A p-value to 3 significant figures, "n/a" without a test."""
    return NA if pd.isna(value) else f"{value:.3g}"


def format_num(value: float, decimals: int = 3, signed: bool = False) -> str:
    """Fixed decimals ("+" before a positive value with ``signed``), "n/a" for NaN."""
    if pd.isna(value):
        return NA
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def mean_std_cell(mean: float, std: float, decimals: int, signed: bool = False) -> str:
    """"mean(std)" over seeds: "—" for a missing mean, "mean(—)" for a single seed (no std)."""
    if pd.isna(mean):
        return MISSING
    text = f"{mean:+.{decimals}f}" if signed else f"{mean:.{decimals}f}"
    return f"{text}({MISSING if pd.isna(std) else f'{std:.{decimals}f}'})"


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``& % $ # _ { } ~ ^ \\``)."""
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
    return "".join(replacements.get(char, char) for char in str(text))


#: Non-ASCII symbols the tables use, as LaTeX math (pdflatex has no text-mode Greek).
LATEX_SYMBOLS = {"±": r"$\pm$", "×": r"$\times$", "Δ": r"$\Delta$", "λ": r"$\lambda$", "≠": r"$\neq$",
                 "∪": r"$\cup$", "≤": r"$\leq$", "≥": r"$\geq$", "α": r"$\alpha$", "—": "---"}


def latex_text(text: str) -> str:
    """Escape LaTeX specials, then spell the tables' non-ASCII symbols as math."""
    escaped = latex_escape(text)
    for symbol, command in LATEX_SYMBOLS.items():
        escaped = escaped.replace(symbol, command)
    return escaped
