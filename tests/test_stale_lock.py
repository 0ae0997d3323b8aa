"""After `kill -9` of Snakemake its lock stays and a plain rerun stops at LockException; scripts/stale_lock.py, which
every make target that runs the workflow calls first (tests/test_make_variables.py), removes it when no Snakemake
runs in the directory, and keeps it while one does."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml

from conftest import REPO
from workflow_copies import TINY, copy_code, snakemake


def stale_lock(workdir):
    return subprocess.run([sys.executable, "scripts/stale_lock.py"], cwd=workdir, capture_output=True, text=True,
                          timeout=60)


def locks(workdir):
    return sorted((workdir / ".snakemake" / "locks").glob("*.lock"))


def test_a_killed_snakemake_s_lock_is_removed_and_the_rerun_goes_on(tmp_path):
    workdir = copy_code(tmp_path / "repo")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "1",
               "--configfile", "config.yaml"]
    running = subprocess.Popen(command, cwd=workdir, env={**os.environ, "PYTHONPATH": str(workdir)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not ((workdir / "results/logs/download_dataset").exists() and locks(workdir)):  # a job has started
        assert running.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(running.pid, signal.SIGKILL)  # Snakemake and its job, as a lost terminal or the OOM killer does
    running.wait(timeout=60)
    assert locks(workdir)

    stopped = snakemake(workdir, "--until", "download_dataset")
    assert stopped.returncode != 0 and "LockException" in stopped.stdout + stopped.stderr, stopped.stderr[-3000:]

    cleared = stale_lock(workdir)
    assert cleared.returncode == 0 and not locks(workdir)
    assert "removed the lock a stopped Snakemake left in" in cleared.stderr, cleared.stderr
    rerun = snakemake(workdir, "--until", "download_dataset")  # the interrupted job reruns (--rerun-incomplete)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (workdir / "results/datasets/matbench_phonons.json.gz").exists()
    assert stale_lock(workdir).stderr == ""  # no lock: nothing said


def test_the_lock_of_a_snakemake_that_still_runs_is_kept(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/stale_lock.py").write_bytes((REPO / "scripts/stale_lock.py").read_bytes())
    (tmp_path / ".snakemake/locks").mkdir(parents=True)
    (tmp_path / ".snakemake/locks/0.output.lock").write_text("results/x\n")
    # a process working there with snakemake in its command line: a Snakemake, or a job it runs
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "snakemake"], cwd=tmp_path)
    try:
        kept = stale_lock(tmp_path)
        assert kept.returncode == 0 and locks(tmp_path), kept.stderr
        assert f"Snakemake still runs in {tmp_path.resolve()} (pid {other.pid}" in kept.stderr, kept.stderr
        assert "not unlocked" in kept.stderr
    finally:
        other.kill()
        other.wait()
    assert "removed the lock" in stale_lock(tmp_path).stderr and not locks(tmp_path)
