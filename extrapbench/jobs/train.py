"""The training jobs of rules train, train_seeds and train_grid_point (scripts/train.py hands `train_job` its job's
files and settings as plain arguments).

`run` (the rules' params.run, workflow/rules/common.smk, run_params): backbone_params, method_params, train_params,
and the seed (train), `seeds_in_one_job` (train_seeds: the seeds are its run folders', seed<N>; or an explicit
`seeds` list) or the selection seed and grid points (train_grid_point); a run's folder is its outputs' folder.

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
(Snakemake removes all outputs of a failed job). A deterministic error (one of DETERMINISTIC; for train_seeds,
every failed seed's) leaves a marker beside the job's log (failure_marker, a Failure record): a retry of the same
Snakemake run (its attempt > 1) then stops at once, before any training, with a DeterministicFailure that carries
the first error (earlier_failure is the retry decision).
"""
from __future__ import annotations

import json
import os
import shutil
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from extrapbench.config.selection import apply_point
from extrapbench.files import write_atomic
from extrapbench.jobs.logs import attempt_link, attempt_logs, finish_attempt, keep_attempt, redirect_to_log
from extrapbench.naming import run_folder_seed
from extrapbench.training.run import run_training

#: Errors a retry with more runtime or memory cannot change: a non-finite loss, a bad hyper-parameter, a material
#: without a graph neighbour, a missing graph.
DETERMINISTIC = (FloatingPointError, ValueError, KeyError)
#: a training job's outputs, one path each per run (train_grid_point has no checkpoint)
OUTPUT_KINDS = ("predictions", "history", "checkpoint", "provenance")


class DeterministicFailure(RuntimeError):
    """A retry of a job whose earlier attempt failed deterministically: not trained again."""


@dataclass(frozen=True)
class Failure:
    """A deterministic failure, as its marker records it: the error's type (its name, for the reader) and message,
    the attempt it ended and that attempt's log."""
    type: str
    message: str
    attempt: int
    log: str | None

    @classmethod
    def of(cls, exc: BaseException, attempt: int, log) -> Failure:
        """`exc`, which ended `attempt`; its log is the attempt's link to `log` (it outlives Snakemake's deletion)."""
        return cls(type(exc).__name__, str(exc), attempt, (attempt_link(log) or str(log)) if log else None)

    def write(self, marker: Path) -> None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, marker: Path) -> Failure | None:
        """The marker's record; None where it cannot be read."""
        try:
            record = json.loads(marker.read_text())
            return cls(str(record["type"]), str(record["message"]), int(record["attempt"]), record.get("log"))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def not_retried(self) -> DeterministicFailure:
        """The error a retry stops with."""
        return DeterministicFailure(f"{self.type}: {self.message} [not retried: attempt {self.attempt} failed this "
                                    f"way, deterministically; its log: {self.log}]")


def is_deterministic(errors) -> bool:
    """Whether a retry with more runtime or memory cannot change the failure: every one of `errors` (a job's error,
    or each failed seed's) is DETERMINISTIC."""
    errors = list(errors)
    return bool(errors) and all(isinstance(error, DETERMINISTIC) for error in errors)


def failure_marker(logs, run_dirs) -> Path:
    """Where a job's deterministic failure is recorded: beside its first log (else in its first run's folder)."""
    return Path(f"{logs[0]}.deterministic-failure") if logs else Path(run_dirs[0]) / ".deterministic-failure"


def earlier_failure(marker: Path, attempt: int) -> Failure | None:
    """The retry decision: on a retry (`attempt` > 1) whose earlier attempt failed deterministically, that failure,
    and the job is not trained again; else None, and it trains. A new Snakemake run (attempt 1) trains again (the
    cause may have been fixed), so an old marker goes."""
    if attempt > 1 and marker.exists():
        failure = Failure.read(marker)
        if failure is not None:
            return failure
    marker.unlink(missing_ok=True)
    return None


def resume_checkpoints(run_dir) -> list:
    """The per-epoch checkpoints in a run's folder (extrapbench.training.stage_resume_path), grid points' included.
    One there means an earlier attempt was interrupted: its log is kept."""
    return list(Path(run_dir).glob("**/resume-*.pt"))


def final_settings(run: dict, selected=None) -> tuple:
    """(train_params, method_params, selection) of a final run: the grid point's of `selected` (the selection's
    selected.json), if the method has a selection."""
    train_params, method_params = dict(run["train_params"]), dict(run["method_params"])
    if selected is None:
        return train_params, method_params, None
    chosen = json.loads(Path(selected).read_text())
    point = chosen["selected_params"]
    selection = {"role": "selected", "point": chosen["selected"], "params": point, "file": selected}
    if not point:
        return train_params, method_params, selection
    return (*apply_point(train_params, method_params, point), selection)


def seeds_failure_message(seeds, failures) -> str:
    """Why a train_seeds job failed: each failed seed's error and log, and what becomes of the finished seeds.
    `failures`: (seed, exception, its log) of each failed seed."""
    failed = {seed for seed, _, _ in failures}
    finished = [seed for seed in seeds if seed not in failed]
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
    return f"{len(failures)} of {len(seeds)} seeds failed: {causes}.{kept}"


def _as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def train_job(*, run: dict, split_json, split_csv, representation, outputs: dict, logs, backbone: str,
              method: str, config: dict, threads: int, predict_train: bool, selected=None, attempt: int = 1) -> None:
    """One training job (train, train_seeds or train_grid_point, by `run`), its output already sent to `logs[0]`
    (extrapbench.jobs.rule.run_rule). `outputs`: OUTPUT_KINDS -> a path (train, train_grid_point) or one path per
    seed (train_seeds); `logs`: the job's logs (one per seed for train_seeds); `selected`: the selection's
    selected.json of a final run, if its method has one; `attempt`: Snakemake's attempt of this job (> 1: a retry)."""
    outputs = {kind: _as_list(outputs[kind]) for kind in OUTPUT_KINDS if outputs.get(kind) is not None}
    logs = [str(log) for log in logs]
    # the runs' folders, from their outputs (so a module's `prefix:` or any other output path reaches them)
    run_dirs = [Path(path).parent for path in outputs["predictions"]]
    # train_seeds: one output of each kind and one log per seed, in this order; the seeds are read from the run
    # folders' names (seed<N>), not from a list among the params, so a config that drops a seed keeps the others
    seeds = ([run_folder_seed(run_dir) for run_dir in run_dirs] if run.get("seeds_in_one_job")
             else run.get("seeds"))
    marker = failure_marker(logs, run_dirs)
    failure = earlier_failure(marker, attempt)
    if logs:  # a retry after a deterministic failure keeps the failed attempt's log too
        keep_attempt(logs[0], resuming=bool(resume_checkpoints(run_dirs[0])) or failure is not None)
    if failure is not None:
        print(f"attempt {attempt}: not retried, the failure is deterministic: attempt {failure.attempt} failed with "
              f"{failure.type}, which more runtime or memory cannot change (log: {failure.log}). Fix the cause, "
              f"then rerun.", flush=True)
        raise failure.not_retried()

    # a run's metrics.json (evaluate_runs) was computed from the predictions this job replaces: it goes now, so that
    # a run this job does not finish has no file that looks complete (Snakemake removes only this job's outputs)
    for run_dir in run_dirs:
        (run_dir / "metrics.json").unlink(missing_ok=True)
    common = dict(split_json=split_json, split_csv=split_csv, inputs=representation, backbone_name=backbone,
                  backbone_params=dict(run["backbone_params"]), method_name=method,
                  resolved_config=dict(config), threads=threads, predict_train=bool(predict_train))
    try:
        if "points" in run:
            _train_grid_points(run, common, outputs, run_dirs[0])
        elif seeds is not None:
            _train_seeds_in_turn({**run, "seeds": seeds}, common, outputs, run_dirs, logs, selected, marker, attempt)
        else:
            train_params, method_params, selection = final_settings(run, selected)
            run_training(**common, seed=int(run["seed"]), attempt_logs=attempt_logs(), method_params=method_params,
                         train_params=train_params, run_dir=run_dirs[0],
                         outputs={kind: paths[0] for kind, paths in outputs.items()}, selection=selection)
    except DETERMINISTIC as exc:
        Failure.of(exc, attempt, logs[0] if logs else None).write(marker)
        raise
    marker.unlink(missing_ok=True)
    finish_attempt()


def _train_grid_points(run, common, outputs, run_dir) -> None:
    """train_grid_point: several grid points, one after the other."""
    predictions, histories, records = [], [], {}
    for point, params in run["points"]:
        train_params, method_params = apply_point(dict(run["train_params"]), dict(run["method_params"]), params)
        point_dir = run_dir / point
        out = {kind: str(point_dir / name) for kind, name in (
            ("predictions", "predictions.csv"), ("history", "history.csv"), ("provenance", "provenance.json"))}
        run_training(**common, seed=int(run["seed"]), attempt_logs=attempt_logs(), method_params=method_params,
                     train_params=train_params, run_dir=point_dir, outputs={**out, "checkpoint": None},
                     selection={"role": "grid point", "point": point, "params": params}, keep_resume=True)
        records[point] = json.loads(Path(out["provenance"]).read_text())
        predictions.append(pd.read_csv(out["predictions"], dtype={"id": str}).assign(point=point))
        histories.append(pd.read_csv(out["history"]).assign(point=point))
    write_atomic(lambda p: pd.concat(histories).to_csv(p, index=False), outputs["history"][0])
    write_atomic(lambda p: Path(p).write_text(json.dumps({"points": records}, indent=2)), outputs["provenance"][0])
    write_atomic(lambda p: pd.concat(predictions).to_csv(p, index=False), outputs["predictions"][0])
    for point, _ in run["points"]:  # done: the per-point folders (resume checkpoints) go
        shutil.rmtree(run_dir / point, ignore_errors=True)


def _train_seeds_in_turn(run, common, outputs, run_dirs, logs, selected, marker, attempt) -> None:
    """train_seeds: every seed, one after the other, each into its own folder and log. A seed that fails does not
    stop the others: each finished seed's resume checkpoint stays in its folder, so that when Snakemake has removed
    every output of the failed job, a rerun restores the finished seeds instead of training them again."""
    seeds = run["seeds"]
    train_params, method_params, selection = final_settings(run, selected)
    failures = []  # (seed, exception, its log)
    for i, (seed, run_dir) in enumerate(zip(seeds, run_dirs)):
        if run_dir.name != f"seed{seed}":
            raise RuntimeError(f"train_seeds: output {outputs['predictions'][i]} is not seed {seed}'s")
        if i:  # the first seed's log took the output from the start
            redirect_to_log(logs[i], resumable=True, resuming=bool(resume_checkpoints(run_dir)))
        try:
            run_training(**common, seed=int(seed), attempt_logs=attempt_logs(), method_params=method_params,
                         train_params=train_params, run_dir=run_dir,
                         outputs={kind: paths[i] for kind, paths in outputs.items()}, selection=selection,
                         keep_resume=True)
        except Exception as exc:  # an interruption (KeyboardInterrupt, SystemExit) still ends the job at once
            traceback.print_exc()
            print(f"seed {seed} failed; the job goes on with the other seeds", flush=True)
            failures.append((seed, exc, logs[i]))
    if failures:
        error = RuntimeError(seeds_failure_message(seeds, failures))
        redirect_to_log(failures[0][2], append=True)  # the error goes to the failed seed's log
        if is_deterministic(exc for _, exc, _ in failures):
            Failure.of(error, attempt, failures[0][2]).write(marker)
        raise error
    for run_dir in run_dirs:  # done: the resume checkpoints go
        for path in resume_checkpoints(run_dir):
            path.unlink()
