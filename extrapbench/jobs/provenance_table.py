"""Rules table_provenance and table_provenance_other_split_tasks' job: the runs' provenance.json -> one row per run
with where it came from (selected grid point, epochs, wall time, device, git commit, library versions)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from extrapbench.files import write_atomic


def provenance_row(record: dict) -> dict:
    """One run's row, from its provenance record."""
    selection = record.get("selection") or {}
    git = record.get("git") or {}
    return {
        "task": record["task"], "backbone": record["backbone"], "method": record["method"], "seed": record["seed"],
        "selected_point": selection.get("point"), "selected_params": json.dumps(selection.get("params")),
        "epochs_run": record["epochs_run"], "best_epoch": record["best_epoch"],
        "wall_time_s": round(record["wall_time_s"], 2), "device": record.get("device"),
        "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
        **{f"version_{k}": v for k, v in (record.get("versions") or {}).items()},
    }


def provenance_table(provenance_paths, csv) -> None:
    """Every run's row (provenance_row), in the order of `provenance_paths`, -> `csv`."""
    rows = [provenance_row(json.loads(Path(path).read_text())) for path in provenance_paths]
    write_atomic(lambda p: pd.DataFrame(rows).to_csv(p, index=False), csv)
