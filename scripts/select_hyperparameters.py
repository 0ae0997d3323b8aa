"""Rule select_hyperparameters: grid points' val MAE -> selected.json (all points' val MAE and the winner), and every
grid point's SPEC §6 metrics -> grid_metrics.json (what evaluate_run computes for a final run; Fig. 6 reads the test
MAE along λ). The choice reads the val rows only: extrapbench.selection.val_maes never sees a test row."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

from extrapbench.files import write_atomic  # noqa: E402
from extrapbench.evaluation.runs import run_metrics  # noqa: E402
from extrapbench.config.selection import point_id, read_grid_predictions, select, val_maes  # noqa: E402

sm = snakemake  # noqa: F821
points = list(sm.params.points)
ids = [point_id(i) for i in range(len(points))]
split_summary = json.loads(Path(sm.input.split).read_text())
provenance = {}
for path in sm.input.provenance:
    provenance.update(json.loads(Path(path).read_text())["points"])
# each grid point's metrics (test rows included, for the figures only; the choice below reads val rows alone).
# Computed first: run_metrics checks that the rows are the split's val / test ids, each once and finite, so a
# file of another split, or one cut short, fails the job before it chooses anything
metrics_by_point = {}
for path in sm.input.predictions:
    for point, rows in read_grid_predictions([path]).groupby("point", sort=False):
        metrics_by_point[point] = run_metrics(rows.drop(columns="point"), split_summary, provenance[point],
                                              path=f"{path} (grid point {point})")
by_point = val_maes(list(sm.input.predictions))  # val rows only
missing = [p for p in ids if p not in by_point]
if missing:
    raise ValueError(f"no val predictions for grid points {missing} in {list(sm.input.predictions)}")
maes = [by_point[p] for p in ids]
best = select(points, maes)
record = {"task": sm.wildcards.task, "backbone": sm.wildcards.backbone, "method": sm.wildcards.method,
          "seed": sm.params.seed, "metric": "val_mae",
          "points": [{"point": i, "params": p, "val_mae": m} for i, p, m in zip(ids, points, maes)],
          "selected": ids[best], "selected_params": points[best]}
for entry in record["points"]:
    print(f"{entry['point']} {entry['params']} val_mae={entry['val_mae']:.4f}"
          + ("  <- selected" if entry["point"] == record["selected"] else ""))
write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2)), sm.output.selected)

grid_metrics = [{**metrics_by_point[i], "point": i, "params": params} for i, params in zip(ids, points)]
write_atomic(lambda p: Path(p).write_text(json.dumps({"points": grid_metrics}, indent=2, default=float)),
             sm.output.grid_metrics)
