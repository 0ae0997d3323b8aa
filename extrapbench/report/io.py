"""Reading the report's inputs and writing its outputs: JSON files, text files, the three renderings of a table,
figures. Parent folders are created on write. Inside a table or figure rule's job, every Markdown and LaTeX table
and every figure written here carries the job's stamp (extrapbench.report.stamp): the config that made it, the
code, and the stale runs it was drawn from."""
from __future__ import annotations

import json
import os
from pathlib import Path

from extrapbench.report.stamp import footer, job_stamp, stamp_text

PathLike = str | os.PathLike


def read_json(path: PathLike) -> dict:
    with open(path) as json_file:
        return json.load(json_file)


def write_text(path: PathLike | None, text: str) -> None:
    """Write ``text`` to ``path``; nothing when ``path`` is None. A ``.md`` / ``.tex`` file written by a stamped
    job ends with its stamp (extrapbench.report.stamp.stamp_text)."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(stamp_text(path, text, job_stamp()))


def write_table_files(table, markdown_path=None, latex_path=None, csv_path=None) -> None:
    """Write whichever of a table's three renderings are given a path (parent folders are created): any object
    with ``to_markdown()``, ``to_latex()`` and ``to_frame()``. Each rendering is built only when it is written."""
    if markdown_path is not None:
        write_text(markdown_path, table.to_markdown())
    if latex_path is not None:
        write_text(latex_path, table.to_latex())
    if csv_path is not None:
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        table.to_frame().to_csv(csv_path, index=False)


def save_figure(figure, png_path: PathLike, pdf_path: PathLike | None = None, dpi: int = 150) -> None:
    """Write a matplotlib figure to each given path (PNG, PDF), creating the folders. In a stamped job each file
    gets the stamp in its metadata and a footer (extrapbench.report.stamp)."""
    stamp = job_stamp()
    with footer(figure, stamp):
        for path in (png_path, pdf_path):
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                figure.savefig(path, dpi=dpi, bbox_inches="tight",
                               metadata=stamp.metadata(Path(path).suffix) if stamp is not None else None)
