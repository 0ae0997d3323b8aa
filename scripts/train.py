"""Rules train, train_seeds and train_grid_point.

params.run: backbone_params, method_params, train_params, and the seed (train), the seeds (train_seeds) or the
selection seed and grid points (train_grid_point) (workflow/rules/common.smk, run_params); a run's folder is its
outputs' folder.

train: one (method, backbone, task, seed) run -> predictions, history, checkpoint, provenance.
train_seeds (config `resources.seeds_in_one_job`): every seed of one (method, backbone, task) in turn, each into its
own run folder and log with exactly train's files. Each seed's resume checkpoint stays in its folder until the whole
job is done, so a rerun of a killed job restores every seed it finished and resumes the one it was training.
train_grid_point: the job's selection grid points in turn, each in its own folder {run_dir}/{point}/ while it
trains (its resume checkpoint stays there until the whole job is done, so a rerun restores every point the killed
job finished and resumes the one it was training); then one predictions.csv and history.csv with a `point`
column, one provenance.json ({"points": {point: record}}), and no checkpoint: nothing reads a grid point's model.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import attempt_logs, finish_attempt, redirect_to_log  # noqa: E402

sm = snakemake  # noqa: F821
run = sm.params.run
seeds = run.get("seeds")  # train_seeds: one output of each kind and one log per seed, in this order
# the runs' folders, from their outputs (so a module's `prefix:` or any other output path reaches them)
run_dirs = [Path(p).parent for p in (sm.output.predictions if seeds is not None else [sm.output.predictions])]


def resume_checkpoints(run_dir):
    """The per-epoch checkpoints in a run's folder (extrapbench.training.stage_resume_path), grid points' included.
    One there means an earlier attempt was interrupted: its log is kept."""
    return list(run_dir.glob("**/resume-*.pt"))


redirect_to_log(sm, resumable=True, resuming=bool(resume_checkpoints(run_dirs[0])))

import json  # noqa: E402
import shutil  # noqa: E402

from extrapbench.run import run_training  # noqa: E402
from extrapbench.selection import apply_point  # noqa: E402

base_train, base_method = dict(run["train_params"]), dict(run["method_params"])
common = dict(split_json=sm.input.split_json, split_csv=sm.input.split_csv, inputs=sm.input.representation,
              backbone_name=sm.wildcards.backbone, backbone_params=dict(run["backbone_params"]),
              method_name=sm.wildcards.method, resolved_config={k: v for k, v in sm.config.items()},
              threads=sm.threads, predict_train=bool(sm.params.predict_train))


def final_settings():
    """(train_params, method_params, selection) of a final run: the selected grid point's, if the method has a
    selection."""
    if "selected" not in sm.input.keys():
        return base_train, base_method, None
    selected = json.loads(Path(sm.input.selected).read_text())
    point = selected["selected_params"]
    selection = {"role": "selected", "point": selected["selected"], "params": point, "file": sm.input.selected}
    if not point:
        return base_train, base_method, selection
    return (*apply_point(base_train, base_method, point), selection)


if "points" in run:  # train_grid_point: several grid points, one after the other
    import pandas as pd

    from extrapbench.data import write_atomic

    run_dir = run_dirs[0]
    predictions, histories, records = [], [], {}
    for point, params in run["points"]:
        train_params, method_params = apply_point(base_train, base_method, params)
        point_dir = run_dir / point
        out = {name: str(point_dir / name) for name in ("predictions.csv", "history.csv", "provenance.json")}
        run_training(**common, seed=int(run["seed"]), attempt_logs=attempt_logs(), method_params=method_params,
                     train_params=train_params, run_dir=point_dir,
                     outputs={"predictions": out["predictions.csv"], "history": out["history.csv"],
                              "checkpoint": None, "provenance": out["provenance.json"]},
                     selection={"role": "grid point", "point": point, "params": params}, keep_resume=True)
        records[point] = json.loads(Path(out["provenance.json"]).read_text())
        predictions.append(pd.read_csv(out["predictions.csv"], dtype={"id": str}).assign(point=point))
        histories.append(pd.read_csv(out["history.csv"]).assign(point=point))
    write_atomic(lambda p: pd.concat(histories).to_csv(p, index=False), sm.output.history)
    write_atomic(lambda p: Path(p).write_text(json.dumps({"points": records}, indent=2)), sm.output.provenance)
    write_atomic(lambda p: pd.concat(predictions).to_csv(p, index=False), sm.output.predictions)
    for point, _ in run["points"]:  # done: the per-point folders (resume checkpoints) go
        shutil.rmtree(run_dir / point, ignore_errors=True)
elif seeds is not None:  # train_seeds: every seed, one after the other, each into its own folder and log
    train_params, method_params, selection = final_settings()
    for i, (seed, run_dir) in enumerate(zip(seeds, run_dirs)):
        if run_dir.name != f"seed{seed}":
            raise RuntimeError(f"train_seeds: output {sm.output.predictions[i]} is not seed {seed}'s")
        if i:  # the first seed's log took the output from the start
            redirect_to_log(sm, resumable=True, resuming=bool(resume_checkpoints(run_dir)), log=sm.log[i])
        run_training(**common, seed=int(seed), attempt_logs=attempt_logs(), method_params=method_params,
                     train_params=train_params, run_dir=run_dir,
                     outputs={name: getattr(sm.output, name)[i] for name in ("predictions", "history",
                                                                              "checkpoint", "provenance")},
                     selection=selection, keep_resume=True)
    for run_dir in run_dirs:  # done: the resume checkpoints go
        for path in resume_checkpoints(run_dir):
            path.unlink()
else:
    train_params, method_params, selection = final_settings()
    run_training(**common, seed=int(run["seed"]), attempt_logs=attempt_logs(), method_params=method_params,
                 train_params=train_params, run_dir=run_dirs[0],
                 outputs={"predictions": sm.output.predictions, "history": sm.output.history,
                          "checkpoint": sm.output.checkpoint, "provenance": sm.output.provenance},
                 selection=selection)
finish_attempt()
