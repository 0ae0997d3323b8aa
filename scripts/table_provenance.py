"""Rules table_provenance and table_provenance_other_split_tasks: one row per run with where it came from
(results/tables/provenance.csv, results/tables/other_split_tasks/provenance.csv)"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

import pandas as pd  # noqa: E402

from extrapbench.files import write_atomic  # noqa: E402

rows = []
for path in snakemake.input.provenance:  # noqa: F821
    record = json.loads(Path(path).read_text())
    selection = record.get("selection") or {}
    rows.append({
        "task": record["task"], "backbone": record["backbone"], "method": record["method"], "seed": record["seed"],
        "selected_point": selection.get("point"), "selected_params": json.dumps(selection.get("params")),
        "epochs_run": record["epochs_run"], "best_epoch": record["best_epoch"],
        "wall_time_s": round(record["wall_time_s"], 2), "device": record.get("device"),
        "git_commit": (record.get("git") or {}).get("commit"), "git_dirty": (record.get("git") or {}).get("dirty"),
        **{f"version_{k}": v for k, v in (record.get("versions") or {}).items()},
    })
write_atomic(lambda p: pd.DataFrame(rows).to_csv(p, index=False), snakemake.output.csv)  # noqa: F821
