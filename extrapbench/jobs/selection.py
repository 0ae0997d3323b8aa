"""Rule select_hyperparameters' job: the grid points' val MAE -> selected.json (every point's val MAE and the winner),
and every grid point's metrics -> grid_metrics.json (what evaluate_run computes for a final run; Fig. 6 reads the
test MAE along λ). The choice reads the val rows only: extrapbench.config.selection.val_maes never sees a test
row."""
from __future__ import annotations

import json
from pathlib import Path

from extrapbench.config.selection import point_id, read_grid_predictions, select, val_maes
from extrapbench.evaluation.runs import run_metrics
from extrapbench.files import write_atomic


def select_hyperparameters(*, points: list, predictions: list, provenance: list, split, selected, grid_metrics,
                           task: str, backbone: str, method: str, seed) -> None:
    """`points`: the method's grid points, in order (point_id(i) names the i-th); `predictions`, `provenance`: the
    train_grid_point jobs' files; `split`: the task's split summary (JSON); `selected`, `grid_metrics`: the files
    written."""
    points = list(points)
    ids = [point_id(i) for i in range(len(points))]
    split_summary = json.loads(Path(split).read_text())
    records = {}
    for path in provenance:
        records.update(json.loads(Path(path).read_text())["points"])
    # each grid point's metrics (test rows included, for the figures only; the choice below reads val rows alone).
    # Computed first: run_metrics checks that the rows are the split's val / test ids, each once and finite, so a
    # file of another split, or one cut short, fails the job before it chooses anything
    metrics_by_point = {}
    for path in predictions:
        for point, rows in read_grid_predictions([path]).groupby("point", sort=False):
            metrics_by_point[point] = run_metrics(rows.drop(columns="point"), split_summary, records[point],
                                                  path=f"{path} (grid point {point})")
    by_point = val_maes(list(predictions))  # val rows only
    missing = [p for p in ids if p not in by_point]
    if missing:
        raise ValueError(f"no val predictions for grid points {missing} in {list(predictions)}")
    maes = [by_point[p] for p in ids]
    best = select(points, maes)
    record = {"task": task, "backbone": backbone, "method": method, "seed": seed, "metric": "val_mae",
              "points": [{"point": i, "params": p, "val_mae": m} for i, p, m in zip(ids, points, maes)],
              "selected": ids[best], "selected_params": points[best]}
    for entry in record["points"]:
        print(f"{entry['point']} {entry['params']} val_mae={entry['val_mae']:.4f}"
              + ("  <- selected" if entry["point"] == record["selected"] else ""))
    write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2)), selected)

    every_point = [{**metrics_by_point[i], "point": i, "params": params} for i, params in zip(ids, points)]
    write_atomic(lambda p: Path(p).write_text(json.dumps({"points": every_point}, indent=2, default=float)),
                 grid_metrics)
