"""The job of the rule report_stamp, which runs before every table and figure rule: check the runs, move aside
what another config made, write results/tables/stamp.json.

1. Every run the tables and figures read (its provenance.json) is compared with the config
   (extrapbench.report.provenance_check). A run trained under other settings stops the job with one line per run
   (StaleRunsError) — unless the config sets ``report.allow_stale_runs: true``: then stamp.json lists the stale
   runs and every table and figure drawn from them says so (extrapbench.report.stamp).
2. The tables and figures of results/tables/ and results/figures/ are one config's. When the previous stamp.json
   names another config digest (or there is none, but there are tables), every file there is moved to
   ``results/stale/<config name>-<digest>/`` (same layout, a README.md saying which config made them and which
   one moved them, its stamp.json beside it) before this config's rules write theirs: a second config neither
   overwrites the first one's tables nor leaves them beside its own as if they were current. With the same
   digest, only the files this config does not produce are moved (an earlier version's, say).
3. stamp.json is written: config file(s), digest, when, the runs checked, the stale runs, the folder moved aside.

Snakemake keeps stamp.json while the job runs (the rule flags it `update`), so the previous one can be read; a
failed job leaves it as it was.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from extrapbench.files import write_atomic
from extrapbench.report.provenance_check import StaleRunsError, stale_runs
from extrapbench.report.stamp import SHOWN_DIGITS, read_stamp

log = logging.getLogger(__name__)

#: the folders under results/ that hold one config's outputs
OUTPUT_FOLDERS = ("tables", "figures")
#: where another config's outputs go, under results/
STALE_FOLDER = "stale"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _folder_name(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "unrecorded-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    files = record.get("config_files") or ["config"]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(files[0]).stem) or "config"
    return f"{stem}-{str(record['config_digest'])[:SHOWN_DIGITS]}"


def _free(folder: Path) -> Path:
    if not folder.exists():
        return folder
    n = 2
    while folder.with_name(f"{folder.name}-{n}").exists():
        n += 1
    return folder.with_name(f"{folder.name}-{n}")


def _names(record: Mapping[str, Any] | None) -> str:
    files = (record or {}).get("config_files") or []
    return ", ".join(f"`{name}`" for name in files) or "(no config file)"


def readme(previous: Mapping[str, Any] | None, current: Mapping[str, Any], same_config: bool,
           moved: Sequence[str]) -> str:
    """What a folder of moved-aside outputs says about them."""
    lines = ["# Tables and figures moved aside", ""]
    lines.append(f"Moved here on {current['made']} from `results/`, when config {_names(current)} (config digest "
                 f"{current['config_digest'][:SHOWN_DIGITS]}) made its tables and figures there: they are not its "
                 f"outputs, so they were neither overwritten nor left beside its own.")
    lines.append("")
    if previous is None:
        lines.append("Which config made them is not recorded: they were there before the tables recorded their "
                     "config (results/tables/stamp.json).")
    elif same_config:
        lines.append("They lay beside the outputs of that same config but are not among them (an earlier version "
                     "of the workflow, or a file put there by hand, made them).")
    else:
        lines.append(f"They were made by config {_names(previous)} (config digest "
                     f"{str(previous['config_digest'])[:SHOWN_DIGITS]}, stamped {previous.get('made', '?')}); "
                     f"its stamp.json is beside this file. Each Markdown / LaTeX table ends with the line naming "
                     f"its config, each figure carries it in its metadata and footer.")
    lines += ["", "Delete this folder when you no longer need them. The files:", ""]
    lines += [f"- `{name}`" for name in moved]
    return "\n".join(lines) + "\n"


def set_aside(results: str | os.PathLike, produced: Iterable[str], previous: Mapping[str, Any] | None,
              current: Mapping[str, Any], keep: Iterable[str | os.PathLike] = ()) -> str | None:
    """Move the files of results/tables and results/figures that are not `current`'s (see the module docstring)
    to a new folder under results/stale/; returns that folder (None when nothing moved). `produced`: the outputs
    of `current`, relative to `results`; `keep`: files never moved (stamp.json)."""
    results = Path(results)
    keep = {Path(path).resolve() for path in keep}
    present = [path for folder in OUTPUT_FOLDERS if (results / folder).is_dir()
               for path in sorted((results / folder).rglob("*")) if path.is_file() and path.resolve() not in keep]
    same_config = previous is not None and previous.get("config_digest") == current["config_digest"]
    if same_config:
        produced = {Path(name).as_posix() for name in produced}
        present = [path for path in present if path.relative_to(results).as_posix() not in produced]
    if not present:
        return None
    target = _free(results / STALE_FOLDER / (_folder_name(current if same_config else previous)
                                             + ("-not-its-outputs" if same_config else "")))
    moved = [path.relative_to(results).as_posix() for path in present]
    for path, name in zip(present, moved):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target / name))
        log.info("moved aside: %s -> %s", path, target / name)
    for folder in OUTPUT_FOLDERS:  # the folders emptied by the move (the top ones stay)
        for path in sorted((results / folder).rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    if previous is not None and not same_config:
        (target / "stamp.json").write_text(json.dumps(previous, indent=2, default=str))
    (target / "README.md").write_text(readme(previous, current, same_config, moved))
    return str(target)


def report_stamp(*, provenance_paths: Sequence[str | os.PathLike], config: Mapping[str, Any],
                 config_files: Sequence[str], config_digest: str, allow_stale_runs: bool,
                 graph_backbones: Sequence[str], produced: Iterable[str], stamp_path: str | os.PathLike) -> dict:
    """The rule report_stamp's job (the module docstring); returns the record written to `stamp_path`
    (results/tables/stamp.json). Raises StaleRunsError, moving nothing, when runs are stale and
    `allow_stale_runs` is false. `produced`: this config's tables and figures, relative to results/."""
    stale = stale_runs(provenance_paths, config, graph_backbones)
    for run in stale:
        log.warning("stale run: %s", run.line())
    if stale and not allow_stale_runs:
        raise StaleRunsError(stale, config_files)
    stamp_path = Path(stamp_path)
    results = stamp_path.parent.parent
    previous = read_stamp(stamp_path)
    record = {"config_files": list(config_files), "config_digest": config_digest, "made": _now(),
              "allow_stale_runs": bool(allow_stale_runs), "runs_checked": len(provenance_paths),
              "stale_runs": [run.to_json() for run in stale]}
    moved = set_aside(results, produced, previous, record, keep=[stamp_path])
    if moved:
        log.warning("outputs not made by this config moved aside to %s (its README.md says why)", moved)
    record["moved_aside"] = moved
    write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)), stamp_path)
    log.info("checked %d provenance files: %d stale runs; stamp %s", len(provenance_paths), len(stale), stamp_path)
    return record
