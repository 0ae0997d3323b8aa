"""The stamp on every table and figure: which config made it, from which code, and whether stale runs went into it.

The workflow's rule report_stamp (extrapbench.report.stale_outputs) writes results/tables/stamp.json before any
table or figure: the config file(s), the config's digest (:func:`config_digest`) and the runs the config no longer
describes that ``report.allow_stale_runs`` let through. Every table and figure rule takes that file as its input
``report_stamp``. While such a rule's job runs (extrapbench.jobs.rule.current_job), what it writes through
extrapbench.report.io carries the stamp:

* a Markdown table ends with a note line ``- Made by config `<file>` (config digest <12 hex>) with extrapbench
  commit <10 hex>[, uncommitted changes] (code sha256 <12 hex>).`` (:func:`stamp_markdown`), a LaTeX table with
  the same line as a comment (:func:`stamp_latex`);
* a figure gets the line in its metadata (PNG ``Description``, PDF ``Subject``; the digest alone in PNG
  ``extrapbench-config-digest`` / PDF ``Keywords``) and a small footer (:func:`footer`);
* when runs the job reads are stale, a ``STALE RUNS: ...`` note before the stamp line names them and their
  differing keys (every one is in stamp.json), and the footer says so.

CSV files keep their plain columns (every reader parses them): stamp.json beside them names their config. Outside
such a job (a library call, a test) nothing is stamped. The commit is the one of the code writing the table; a job
whose config is not the stamp's (a table forced alone after a config change) stops instead of stamping.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from extrapbench.config.entries import canonical
from extrapbench.jobs.rule import current_job
from extrapbench.provenance import code_digest, git_commit
from extrapbench.report.provenance_check import ALLOW_KEY, StaleRun

#: the named input of every table and figure rule (results/tables/stamp.json)
STAMP_INPUT = "report_stamp"
#: config keys that change how the workflow runs, never what it computes: left out of the digest
EXECUTION_KEYS = ("resources", "report")
#: how many stale runs a table's note names (stamp.json lists every one)
NAMED_STALE_RUNS = 4
#: digits of a digest or commit the stamp shows
SHOWN_DIGITS = 12


def config_digest(config: Mapping[str, Any]) -> str:
    """sha256 of the config as the workflow resolved it (schema defaults filled in), keys sorted, without the
    EXECUTION_KEYS: two configs that compute the same results have the same digest, whatever their key order."""
    settings = {key: value for key, value in config.items() if key not in EXECUTION_KEYS}
    return hashlib.sha256(json.dumps(canonical(settings), default=str).encode()).hexdigest()


def config_names(paths: Iterable[str | os.PathLike], workdir: str | os.PathLike | None = None) -> list[str]:
    """The config files as a stamp names them: relative to the working directory when inside it (a copied
    results folder keeps its stamp), else absolute."""
    workdir = Path(workdir or os.getcwd()).resolve()
    names = []
    for path in paths:
        resolved = Path(path).resolve()
        names.append(resolved.relative_to(workdir).as_posix() if resolved.is_relative_to(workdir) else str(resolved))
    return names


@functools.lru_cache(maxsize=None)
def code_version() -> dict:
    """{commit, dirty, code_sha256} of the extrapbench code running now."""
    return {**git_commit(Path(__file__).resolve().parents[1]), "code_sha256": code_digest()}


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "`(no config file)`"


_RUN = re.compile(r"(?:^|/)runs/([^/]+)/([^/]+)/([^/]+)/seed(\d+)/[^/]+$")
_SELECTION = re.compile(r"(?:^|/)selection/([^/]+)/([^/]+)/([^/]+)/[^/]+$")
_SUMMARY = re.compile(r"(?:^|/)tables/(?:.+/)?summary[^/]*\.csv$")


def stale_runs_read(stale: Sequence[StaleRun], inputs: Iterable[str | os.PathLike]) -> list[StaleRun]:
    """The stale runs among a job's inputs: a run's files (results/runs/...; a reference predictor's are there
    under every backbone), a selection's files (its grid points), or all of them when the job reads a summary
    table (which holds every run)."""
    runs, selections = set(), set()
    for path in inputs:
        text = Path(path).as_posix()
        if _SUMMARY.search(text):
            return list(stale)
        if match := _RUN.search(text):
            runs.add((*match.groups()[:3], int(match.group(4))))
        elif match := _SELECTION.search(text):
            selections.add(match.groups())
    references = {(task, method, seed) for task, _, method, seed in runs}

    def read(run: StaleRun) -> bool:
        if run.kind == "reference":
            return (run.task, run.method, run.seed) in references
        if run.kind == "grid point":
            return (run.task, run.backbone, run.method) in selections
        return (run.task, run.backbone, run.method, run.seed) in runs

    return [run for run in stale if read(run)]


@dataclass(frozen=True)
class Stamp:
    """What one job's tables and figures say about their origin. `stale_runs`: the stale runs the job reads."""

    config_files: tuple
    config_digest: str
    stale_runs: tuple = ()
    code: Mapping[str, Any] | None = None

    def _code(self) -> Mapping[str, Any]:
        return self.code if self.code is not None else code_version()

    def line(self) -> str:
        code = self._code()
        commit = code.get("commit")
        version = f"commit {commit[:10]}" if commit else "outside git (no commit)"
        if code.get("dirty"):
            version += ", uncommitted changes"
        return (f"Made by config {_quoted(self.config_files)} (config digest {self.config_digest[:SHOWN_DIGITS]}) "
                f"with extrapbench {version} (code sha256 {str(code.get('code_sha256'))[:SHOWN_DIGITS]}).")

    def stale_note(self) -> str | None:
        if not self.stale_runs:
            return None
        runs = list(self.stale_runs)
        named = "; ".join(f"{run.folder} ({run.describe_differences()})" for run in runs[:NAMED_STALE_RUNS])
        more = f"; and {len(runs) - NAMED_STALE_RUNS} more" if len(runs) > NAMED_STALE_RUNS else ""
        return (f"STALE RUNS: drawn from {len(runs)} run{'s' if len(runs) != 1 else ''} trained with other "
                f"settings than config {_quoted(self.config_files)} gives (the run's → the config's; "
                f"{ALLOW_KEY}: true): {named}{more}. Every stale run and key: results/tables/stamp.json.")

    def notes(self) -> list[str]:
        return [note for note in (self.stale_note(), self.line()) if note]

    def footer(self) -> str:
        code = self._code()
        commit = (code.get("commit") or "no commit")[:10] + ("+" if code.get("dirty") else "")
        text = (f"{', '.join(self.config_files) or 'no config file'} · config {self.config_digest[:SHOWN_DIGITS]}"
                f" · extrapbench {commit}")
        if self.stale_runs:
            text += (f"\nSTALE: {len(self.stale_runs)} run{'s' if len(self.stale_runs) != 1 else ''} the config "
                     f"no longer describes ({ALLOW_KEY})")
        return text

    def metadata(self, suffix: str) -> dict | None:
        """savefig metadata for a ``.png`` or ``.pdf`` file (None for another format)."""
        text = " ".join(self.notes())
        if suffix.lower() == ".pdf":
            return {"Subject": text, "Keywords": f"extrapbench config digest {self.config_digest}"}
        if suffix.lower() == ".png":
            return {"Description": text, "extrapbench-config-digest": self.config_digest}
        return None


def read_stamp(path: str | os.PathLike) -> dict | None:
    """A stamp.json's record; None when the file is absent or unreadable."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("config_digest") else None


def stamp_from_record(record: Mapping[str, Any], inputs: Iterable[str | os.PathLike] = ()) -> Stamp:
    """The Stamp a job reading `inputs` gets from a stamp.json record."""
    stale = [StaleRun.from_json(run) for run in record.get("stale_runs") or ()]
    return Stamp(tuple(record.get("config_files") or ()), str(record["config_digest"]),
                 tuple(stale_runs_read(stale, inputs)))


#: the last job's stamp, read once per job: {"job": its snakemake object, "stamp": Stamp}
_JOB_STAMP: dict = {}


def job_stamp() -> Stamp | None:
    """The running rule job's Stamp, from its input ``report_stamp``; None outside a job with one."""
    job = current_job()
    path = getattr(getattr(job, "input", None), STAMP_INPUT, None) if job is not None else None
    if not path:
        return None
    if _JOB_STAMP.get("job") is not job:
        record = read_stamp(path)
        if record is None:
            raise ValueError(f"{path}: not a stamp (rerun the rule report_stamp)")
        config = getattr(job, "config", None)
        if isinstance(config, Mapping) and config and config_digest(config) != record["config_digest"]:
            # a table forced alone after a config change: it would carry the stamp of the config before
            raise ValueError(f"{path} is the stamp of config {_quoted(record.get('config_files') or ())} (digest "
                             f"{str(record['config_digest'])[:SHOWN_DIGITS]}), not of this job's config (digest "
                             f"{config_digest(config)[:SHOWN_DIGITS]}): run the rule report_stamp first "
                             f"(`make figures` does, or add `--forcerun report_stamp`)")
        _JOB_STAMP.update(job=job, stamp=stamp_from_record(record, [str(p) for p in job.input]))
    return _JOB_STAMP["stamp"]


def stamp_markdown(text: str, stamp: Stamp) -> str:
    """A Markdown table with the stamp's notes as the last items of its note list."""
    body = text.rstrip("\n")
    last = body.splitlines()[-1] if body else ""
    separator = "\n" if last.startswith("- ") else "\n\n"
    return body + separator + "\n".join(f"- {note}" for note in stamp.notes()) + "\n"


def stamp_latex(text: str, stamp: Stamp) -> str:
    """A LaTeX table with the stamp's notes as comment lines at its end."""
    return text.rstrip("\n") + "\n" + "\n".join(f"% {note}" for note in stamp.notes()) + "\n"


def stamp_text(path: str | os.PathLike, text: str, stamp: Stamp | None) -> str:
    """`text` as a table file at `path` gets it: stamped when it is Markdown or LaTeX and there is a stamp."""
    suffix = Path(path).suffix.lower()
    if stamp is None or suffix not in (".md", ".tex"):
        return text
    return stamp_markdown(text, stamp) if suffix == ".md" else stamp_latex(text, stamp)


@contextlib.contextmanager
def footer(figure, stamp: Stamp | None):
    """While the block saves `figure`: the stamp's footer below everything it draws (bbox_inches="tight" takes it
    in). The layout is run once and held while it saves (a constrained layout, or a figure legend anchored to the
    figure's edge, would otherwise move to the bottom of the enlarged figure, over the footer)."""
    if stamp is None:
        yield
        return
    engine = figure.get_layout_engine()
    figure.draw_without_rendering()
    drawn = figure.get_tightbbox()
    x, y = min(0.0, drawn.x0 / figure.get_figwidth()), min(0.0, drawn.y0 / figure.get_figheight())
    text = figure.text(x, y, stamp.footer(), transform=figure.transFigure, ha="left", va="top", fontsize=6,
                       color="firebrick" if stamp.stale_runs else "0.4")
    # a figure legend is anchored to the figure's box, which bbox_inches="tight" moves down to the footer: held
    # where it is in figure coordinates instead
    for legend in figure.legends:
        legend.set_bbox_to_anchor(legend.get_bbox_to_anchor().transformed(figure.transFigure.inverted()),
                                  transform=figure.transFigure)
    figure.set_layout_engine("none")
    try:
        yield
    finally:
        text.remove()
        figure.set_layout_engine(engine)
