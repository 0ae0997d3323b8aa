"""Training jobs that fail, are interrupted or run from an awkward place, in real Snakemake runs on a tiny
config: a failed seed of a train_seeds job leaves nothing that looks complete and its finished seeds are restored,
not retrained; Ctrl-C then `make demo`'s command again just works; a checkout and interpreter under paths with
spaces run every rule; a deterministic error is not retried."""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

SNAKEFILE = REPO / "workflow" / "Snakefile"
TINY = {
    "data_home": str(SHIPPED_DATA_HOME),
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
    "methods": {"erm": {}},
    "seeds": [0, 1],
    "train": {"max_epochs": 3, "early_stopping_patience": 50, "batch_size": 64, "learning_rate": 1e-3},
    "references": {},
    "in_distribution": None,
    "resources": {"train_threads": 1, "seeds_in_one_job": True, "retries": 0},
}
RUNS = "results/runs/phonons_top/magpie_mlp/erm"
LOGS = "results/logs/train/phonons_top/magpie_mlp/erm"
METRICS = [f"{RUNS}/seed{seed}/metrics.json" for seed in (0, 1)]
RUN_FILES = {"history.csv", "model.pt", "predictions.csv", "provenance.json", "metrics.json"}
RESTORED = "finished in an earlier attempt, restored"


def snakemake(workdir, *args, python=sys.executable, snakefile=SNAKEFILE, cores="2"):
    return subprocess.run([str(python), "-m", "snakemake", "--cores", cores, "-s", str(snakefile),
                           "--directory", str(workdir), *args, "--configfile", str(workdir / "config.yaml")],
                          capture_output=True, text=True, timeout=600)


def with_config(config, **changes):
    """`config` with its `train` / `resources` entries updated by `train=` / `resources=`, other keys replaced."""
    out = {**config, **{k: v for k, v in changes.items() if k not in ("train", "resources")}}
    for key in ("train", "resources"):
        out[key] = {**config[key], **changes.get(key, {})}
    return out


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """The dataset, Magpie features and split of phonons_top, once for every test here."""
    workdir = tmp_path_factory.mktemp("upstream")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    result = snakemake(workdir, "results/splits/phonons_top.json", "results/features/matbench_phonons/magpie.csv")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def workdir_with(upstream, path: Path, config: dict) -> Path:
    shutil.copytree(upstream, path, symlinks=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def run_files(workdir, seed) -> set:
    folder = workdir / RUNS / f"seed{seed}"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_failed_seed_leaves_nothing_complete_and_the_rerun_restores_the_finished_seeds(upstream, tmp_path):
    """resources.seeds_in_one_job, a finished grid retrained (--forcerun) and seed 0 made to fail at its first
    checkpoint (its resume-checkpoint path is a folder): the job still trains seed 1; Snakemake removes every output
    of the failed job, and the job removed the runs' old metrics.json, so no run folder holds a file that looks
    complete; seed 1's resume checkpoint stays, and a plain rerun restores seed 1 instead of training it."""
    workdir = workdir_with(upstream, tmp_path / "work", TINY)
    first = snakemake(workdir, *METRICS)
    assert first.returncode == 0, first.stderr[-5000:]
    blocker = workdir / RUNS / "seed0" / "resume-main.pt"
    (blocker / "in-the-way").mkdir(parents=True)

    failed = snakemake(workdir, *METRICS, "--forcerun", "train_seeds")  # --configfile ends --forcerun's list
    assert failed.returncode != 0
    assert run_files(workdir, 0) == {"resume-main.pt"}  # the blocking folder only
    assert run_files(workdir, 1) == {"resume-main.pt"}  # no orphan metrics.json, no predictions
    assert ("extrapbench: train_seeds failed: RuntimeError: 1 of 2 seeds failed: seed 0: IsADirectoryError"
            in failed.stderr), failed.stderr[-5000:]
    assert "Seed 1 finished: Snakemake removes every output of the failed job, but its resume checkpoint stays" \
        in failed.stderr
    assert (workdir / RUNS / "seed1" / "resume-main.pt").is_file()
    assert "seed 0 failed; the job goes on with the other seeds" in (workdir / LOGS / "seed0.log").read_text()

    shutil.rmtree(blocker)
    rerun = snakemake(workdir, *METRICS)
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert RESTORED in (workdir / LOGS / "seed1.log").read_text()  # restored in seconds, not retrained
    assert RESTORED not in (workdir / LOGS / "seed0.log").read_text()
    for seed in (0, 1):
        assert run_files(workdir, seed) == RUN_FILES
    assert not list(workdir.glob("results/runs/**/resume-*.pt"))


def demo_command() -> list:
    """The snakemake command `make demo` runs (make -n), its options without the demo's config file."""
    made = subprocess.run(["make", "--no-print-directory", "-n", "-C", str(REPO), "demo", "STAMP="],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    line = next(line for line in made.stdout.splitlines() if "bin/snakemake " in line)
    words = shlex.split(line)[1:]
    at = words.index("--configfile")
    return words[:at] + words[at + 2:]


def test_ctrl_c_in_a_train_seeds_job_then_make_demo_again_finishes_and_restores_the_finished_seed(upstream,
                                                                                                tmp_path):
    """Ctrl-C (SIGINT to Snakemake's process group) while a train_seeds job trains its second seed, then the command
    `make demo` runs, again: no IncompleteFilesException; the interrupted job runs again, seed 0 is restored from
    its resume checkpoint, seed 1 resumes or trains, every run is complete."""
    config = with_config(TINY, train={"max_epochs": 150, "early_stopping_patience": 1000})
    workdir = workdir_with(upstream, tmp_path / "work", config)
    options = demo_command()
    command = [sys.executable, "-m", "snakemake", *options, "-s", str(SNAKEFILE), "--directory", str(workdir),
               *METRICS, "--configfile", str(workdir / "config.yaml")]
    with open(tmp_path / "interrupted.txt", "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not (workdir / RUNS / "seed0" / "predictions.csv").exists():
                assert process.poll() is None and time.monotonic() < deadline, "seed 0 never finished"
                time.sleep(0.05)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    interrupted = (tmp_path / "interrupted.txt").read_text()
    assert process.returncode != 0, interrupted[-3000:]
    assert "predictions.csv" not in run_files(workdir, 1), "the job finished before the interrupt"
    assert (workdir / RUNS / "seed0" / "resume-main.pt").exists()

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-5000:]
    assert "IncompleteFilesException" not in output
    assert RESTORED in (workdir / LOGS / "seed0.log").read_text()
    for seed in (0, 1):
        assert run_files(workdir, seed) == RUN_FILES


def test_a_checkout_and_an_interpreter_under_paths_with_spaces_run_every_rule(upstream, tmp_path):
    """The repository's files copied to a folder whose name has spaces, run by an interpreter whose path has one
    (this venv, reached through a link named with a space): the dry run plans, and download, featurize, split,
    train and evaluate really run (Snakemake quotes only the script of `script:`, not the interpreter)."""
    checkout = tmp_path / "check out" / "extrap bench"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    venv = tmp_path / "py env"
    venv.symlink_to(Path(sys.prefix))
    python = venv / "bin" / "python"
    assert " " in str(python) and (python.parent / "snakemake").exists()
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(with_config(TINY, seeds=[0], resources={
        "seeds_in_one_job": False})))

    plan = snakemake(workdir, "-n", python=python, snakefile=checkout / "workflow" / "Snakefile")
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-5000:]
    ran = snakemake(workdir, METRICS[0], python=python, snakefile=checkout / "workflow" / "Snakefile")
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-5000:]
    assert run_files(workdir, 0) == RUN_FILES


def test_a_deterministic_error_is_not_retried(upstream, tmp_path):
    """A non-finite training loss (learning rate 1e30) with resources.retries 1: Snakemake resubmits the job, and
    the second attempt stops at once, before any training, with a DeterministicFailure that carries the first
    attempt's error and a log that says why; a new Snakemake run (the learning rate fixed) trains again."""
    config = with_config(TINY, seeds=[0], train={"learning_rate": 1e30},
                         resources={"seeds_in_one_job": False, "retries": 1})
    workdir = workdir_with(upstream, tmp_path / "work", config)
    failed = snakemake(workdir, METRICS[0], cores="1")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Trying to restart job" in output  # Snakemake did resubmit it
    lines = [line for line in output.splitlines() if line.startswith("extrapbench: train failed: ")]
    assert len(lines) == 2, output[-5000:]
    assert lines[0].startswith("extrapbench: train failed: FloatingPointError: non-finite training loss")
    assert "not retried" not in lines[0]
    assert lines[1].startswith("extrapbench: train failed: DeterministicFailure: FloatingPointError: non-finite "
                               "training loss"), lines[1]
    assert f"[not retried: attempt 1 failed this way, deterministically; its log: {LOGS}/seed0.log.attempt1]" \
        in lines[1]
    log = (workdir / LOGS / "seed0.log").read_text()
    assert "attempt 2: not retried, the failure is deterministic: attempt 1 failed with FloatingPointError" in log
    assert "epochs" not in log  # no training at all in the second attempt
    assert "FloatingPointError: non-finite training loss" in (workdir / LOGS / "seed0.log.attempt1").read_text()

    (workdir / "config.yaml").write_text(yaml.safe_dump(with_config(config, train={"learning_rate": 1e-3})))
    fixed = snakemake(workdir, METRICS[0], cores="1")
    assert fixed.returncode == 0, fixed.stderr[-5000:]
    assert run_files(workdir, 0) == RUN_FILES
    assert not list((workdir / LOGS).glob("*.deterministic-failure"))
