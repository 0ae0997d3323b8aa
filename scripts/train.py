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

Faults: a job removes its runs' earlier metrics.json first (computed from the predictions it replaces), so a run it
does not finish has no file that looks complete. A train_seeds seed that fails does not stop the others; the job
then fails naming every failed seed, and the finished seeds' resume checkpoints stay for the rerun to restore
(Snakemake removes all outputs of a failed job). A deterministic error (DETERMINISTIC below) leaves a marker beside
the job's log: a retry of the same Snakemake run (resource `attempt` > 1) then fails at once with the same message.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import attempt_link, attempt_logs, finish_attempt, redirect_to_log  # noqa: E402

sm = snakemake  # noqa: F821
run = sm.params.run
seeds = run.get("seeds")  # train_seeds: one output of each kind and one log per seed, in this order
# the runs' folders, from their outputs (so a module's `prefix:` or any other output path reaches them)
run_dirs = [Path(p).parent for p in (sm.output.predictions if seeds is not None else [sm.output.predictions])]
# Snakemake's attempt (resource `attempt` of the training rules, workflow/rules/train.smk): > 1 on a retry
attempt = int(getattr(getattr(sm, "resources", None), "attempt", 1) or 1)
# Errors a retry with more runtime or memory cannot change (a non-finite loss, a bad hyper-parameter, a material
# without a graph neighbour, a missing graph): an attempt that fails with one leaves this marker beside its log, and
# a retry of the same Snakemake run (attempt > 1) fails at once with the same message instead of training again.
DETERMINISTIC = (FloatingPointError, ValueError, KeyError)
marker = Path(f"{sm.log[0]}.deterministic-failure") if sm.log else run_dirs[0] / ".deterministic-failure"


def resume_checkpoints(run_dir):
    """The per-epoch checkpoints in a run's folder (extrapbench.training.stage_resume_path), grid points' included.
    One there means an earlier attempt was interrupted: its log is kept."""
    return list(run_dir.glob("**/resume-*.pt"))


def earlier_deterministic_failure():
    """The marker's record, on a retry whose earlier attempt failed deterministically; else None (a new Snakemake
    run, attempt 1, trains again: the cause may have been fixed, so an old marker goes)."""
    import json

    if attempt > 1 and marker.exists():
        try:
            return json.loads(marker.read_text())
        except (OSError, ValueError):
            pass
    marker.unlink(missing_ok=True)
    return None


earlier_failure = earlier_deterministic_failure()
# a retry after a deterministic failure keeps the failed attempt's log too
redirect_to_log(sm, resumable=True, resuming=bool(resume_checkpoints(run_dirs[0])) or earlier_failure is not None)
if earlier_failure is not None:
    import builtins

    kind = getattr(builtins, earlier_failure.get("type", ""), None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or kind is KeyError:
        kind = RuntimeError
    failed, failed_log = earlier_failure.get("attempt"), earlier_failure.get("log")
    print(f"attempt {attempt}: not retried, the failure is deterministic: attempt {failed} failed with "
          f"{earlier_failure.get('type')}, which more runtime or memory cannot change (log: {failed_log}). Fix the "
          f"cause, then rerun.", flush=True)
    raise kind(f"{earlier_failure.get('message')} [not retried: attempt {failed} failed this way, deterministically; "
               f"its log: {failed_log}]")

import json  # noqa: E402
import shutil  # noqa: E402
import traceback  # noqa: E402

from extrapbench.training.run import run_training  # noqa: E402
from extrapbench.config.selection import apply_point  # noqa: E402

# a run's metrics.json (evaluate_runs) was computed from the predictions this job replaces: it goes now, so that a
# run this job does not finish has no file that looks complete (Snakemake removes only this job's own outputs)
for stale in (run_dir / "metrics.json" for run_dir in run_dirs):
    stale.unlink(missing_ok=True)


def record_deterministic_failure(exc, log):
    """Leave the marker a retry of this Snakemake run reads (earlier_deterministic_failure)."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"type": type(exc).__name__, "message": str(exc), "attempt": attempt,
                                  "log": (attempt_link(log) or str(log)) if log else None}))


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


def train_grid_points():
    """train_grid_point: several grid points, one after the other."""
    import pandas as pd

    from extrapbench.files import write_atomic

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


def train_seeds_in_turn():
    """train_seeds: every seed, one after the other, each into its own folder and log. A seed that fails does not
    stop the others: each finished seed's resume checkpoint stays in its folder, so that when Snakemake has removed
    every output of the failed job, a rerun restores the finished seeds instead of training them again."""
    train_params, method_params, selection = final_settings()
    failures = []  # (seed, exception, its log)
    for i, (seed, run_dir) in enumerate(zip(seeds, run_dirs)):
        if run_dir.name != f"seed{seed}":
            raise RuntimeError(f"train_seeds: output {sm.output.predictions[i]} is not seed {seed}'s")
        if i:  # the first seed's log took the output from the start
            redirect_to_log(sm, resumable=True, resuming=bool(resume_checkpoints(run_dir)), log=sm.log[i])
        try:
            run_training(**common, seed=int(seed), attempt_logs=attempt_logs(), method_params=method_params,
                         train_params=train_params, run_dir=run_dir,
                         outputs={name: getattr(sm.output, name)[i] for name in ("predictions", "history",
                                                                                  "checkpoint", "provenance")},
                         selection=selection, keep_resume=True)
        except Exception as exc:  # an interruption (KeyboardInterrupt, SystemExit) still ends the job at once
            traceback.print_exc()
            print(f"seed {seed} failed; the job goes on with the other seeds", flush=True)
            failures.append((seed, exc, sm.log[i]))
    if failures:
        finished = [s for s in seeds if s not in {f[0] for f in failures}]
        causes = "; ".join(f"seed {seed}: {type(exc).__name__}: {exc} (log: {log})" for seed, exc, log in failures)
        if len(finished) == 1:
            kept = (f" Seed {finished[0]} finished: Snakemake removes every output of the failed job, but its resume "
                    "checkpoint stays in its run folder, so a rerun restores it instead of training it again.")
        elif finished:
            kept = (f" Seeds {', '.join(map(str, finished))} finished: Snakemake removes every output of the failed "
                    "job, but their resume checkpoints stay in their run folders, so a rerun restores them instead "
                    "of training them again.")
        else:
            kept = ""
        message = f"{len(failures)} of {len(seeds)} seeds failed: {causes}.{kept}"
        redirect_to_log(sm, log=failures[0][2], append=True)  # the error goes to the failed seed's log
        if all(isinstance(exc, DETERMINISTIC) for _, exc, _ in failures):
            record_deterministic_failure(RuntimeError(message), failures[0][2])
        raise RuntimeError(message)
    for run_dir in run_dirs:  # done: the resume checkpoints go
        for path in resume_checkpoints(run_dir):
            path.unlink()


def train_one():
    """train: one run."""
    train_params, method_params, selection = final_settings()
    run_training(**common, seed=int(run["seed"]), attempt_logs=attempt_logs(), method_params=method_params,
                 train_params=train_params, run_dir=run_dirs[0],
                 outputs={"predictions": sm.output.predictions, "history": sm.output.history,
                          "checkpoint": sm.output.checkpoint, "provenance": sm.output.provenance},
                 selection=selection)


try:
    train_grid_points() if "points" in run else train_seeds_in_turn() if seeds is not None else train_one()
except DETERMINISTIC as exc:
    record_deterministic_failure(exc, sm.log[0] if sm.log else None)
    raise
marker.unlink(missing_ok=True)
finish_attempt()
