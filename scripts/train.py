"""Rules train and train_grid_point.

params.run: backbone_params, method_params, train_params, seed, and for train_grid_point the grid points
(workflow/rules/common.smk, run_params); the run's folder is its outputs' folder.

train: one (method, backbone, task, seed) run -> predictions, history, checkpoint, provenance.
train_grid_point: the job's selection grid points in turn, each in its own folder {run_dir}/{point}/ while it
trains (its resume checkpoint stays there until the whole job is done, so a rerun restores every point the killed
job finished and resumes the one it was training); then one predictions.csv and history.csv with a `point`
column, one provenance.json ({"points": {point: record}}), and no checkpoint: nothing reads a grid point's model.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import attempt_logs, finish_attempt, redirect_to_log  # noqa: E402

# the run's folder, from its outputs (so a module's `prefix:` or any other output path reaches it)
run_dir = Path(snakemake.output.predictions).parent  # noqa: F821
# a resume checkpoint in the run directory means an earlier attempt was interrupted: keep its log
redirect_to_log(snakemake, resumable=True, resuming=any(run_dir.glob("**/resume-*.pt")))  # noqa: F821

import json  # noqa: E402
import shutil  # noqa: E402

from extrapbench.run import run_training  # noqa: E402
from extrapbench.selection import apply_point  # noqa: E402

sm = snakemake  # noqa: F821
run = sm.params.run
base_train, base_method = dict(run["train_params"]), dict(run["method_params"])
common = dict(split_json=sm.input.split_json, split_csv=sm.input.split_csv, inputs=sm.input.representation,
              backbone_name=sm.wildcards.backbone, backbone_params=dict(run["backbone_params"]),
              method_name=sm.wildcards.method, resolved_config={k: v for k, v in sm.config.items()},
              threads=sm.threads, seed=int(run["seed"]), attempt_logs=attempt_logs())

if "points" in run:  # train_grid_point: several grid points, one after the other
    import pandas as pd

    from extrapbench.data import write_atomic

    predictions, histories, records = [], [], {}
    for point, params in run["points"]:
        train_params, method_params = apply_point(base_train, base_method, params)
        point_dir = run_dir / point
        out = {name: str(point_dir / name) for name in ("predictions.csv", "history.csv", "provenance.json")}
        record = run_training(**common, method_params=method_params, train_params=train_params, run_dir=point_dir,
                              outputs={"predictions": out["predictions.csv"], "history": out["history.csv"],
                                       "checkpoint": None, "provenance": out["provenance.json"]},
                              selection={"role": "grid point", "point": point, "params": params},
                              predict_train=bool(sm.params.predict_train), keep_resume=True)
        records[point] = json.loads(Path(out["provenance.json"]).read_text())
        predictions.append(pd.read_csv(out["predictions.csv"], dtype={"id": str}).assign(point=point))
        histories.append(pd.read_csv(out["history.csv"]).assign(point=point))
    write_atomic(lambda p: pd.concat(histories).to_csv(p, index=False), sm.output.history)
    write_atomic(lambda p: Path(p).write_text(json.dumps({"points": records}, indent=2)), sm.output.provenance)
    write_atomic(lambda p: pd.concat(predictions).to_csv(p, index=False), sm.output.predictions)
    for point, _ in run["points"]:  # done: the per-point folders (resume checkpoints) go
        shutil.rmtree(run_dir / point, ignore_errors=True)
else:
    train_params, method_params = base_train, base_method
    point, selection = None, None  # a final run: the selected grid point, if the method has a selection
    if "selected" in sm.input.keys():
        selected = json.loads(Path(sm.input.selected).read_text())
        point = selected["selected_params"]
        selection = {"role": "selected", "point": selected["selected"], "params": point, "file": sm.input.selected}
    if point:
        train_params, method_params = apply_point(train_params, method_params, point)
    run_training(
        **common, method_params=method_params, train_params=train_params, run_dir=run_dir,
        outputs={"predictions": sm.output.predictions, "history": sm.output.history,
                 "checkpoint": sm.output.checkpoint, "provenance": sm.output.provenance},
        selection=selection, predict_train=bool(sm.params.predict_train),
    )
finish_attempt()
