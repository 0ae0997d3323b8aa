"""The make variables that reach a shell (METHOD, CONFIG, PROFILE, CORES, PYTHON, SMK_ARGS) cannot run a command of
their own, valid values reach Snakemake word for word, and every target that runs the workflow clears a stale lock
first and reruns by content.

Real `make` runs the repository's Makefile in a folder whose .venv/bin/snakemake and .venv/bin/python are stubs that
record their arguments (and a stamp that says .venv is installed), so nothing is planned or trained."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO

STUB = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
"""
#: the targets that run the workflow
TARGETS = ["demo", "demo-paper-b", "demo-gnn", "demo-gnn-schnet", "reproduce-paper", "rerun-method", "figures",
           "download"]


@pytest.fixture
def folder(tmp_path):
    shutil.copyfile(REPO / "Makefile", tmp_path / "Makefile")
    old = time.time() - 1000
    for name in ("requirements.txt", "pyproject.toml", "scripts/slurm/snakemake-executor-plugin-slurm-2.8.0.patch"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".venv/bin").mkdir(parents=True)
    for name in ("snakemake", "python"):
        (tmp_path / ".venv/bin" / name).write_text(STUB)
        (tmp_path / ".venv/bin" / name).chmod(0o755)
    (tmp_path / ".venv/.installed").write_text("")
    return tmp_path


def make(folder, *args):
    env = {**os.environ, "STUB_LOG": str(folder / "calls.jsonl")}
    for name in ("METHOD", "CONFIG", "PROFILE", "SMK_ARGS", "CORES", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    result = subprocess.run(["make", "--no-print-directory", *args], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=60)
    log = folder / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


@pytest.mark.parametrize("target, variable, value", [
    ("rerun-method", "METHOD", "erm' ; touch {marker} ; echo '"),
    ("rerun-method", "METHOD", "$(shell touch {marker})"),
    ("figures", "CONFIG", "config/demo.yaml; touch {marker}"),
    ("figures", "CONFIG", "config/demo.yaml\ntouch {marker}"),
    ("reproduce-paper", "PROFILE", "profiles/local' ; touch {marker} ; echo '"),
    ("demo", "CORES", "2; touch {marker}"),
    ("setup", "PYTHON", "python3.11; touch {marker};"),
    ("figures", "SMK_ARGS", "-n ; touch {marker}"),
    ("figures", "SMK_ARGS", "-n `touch {marker}`"),
    ("figures", "SMK_ARGS", "-n $$(touch {marker})"),
    ("rerun-method", "SMK_ARGS", "-n '"),
    ("download", "SMK_ARGS", "-n && touch {marker}"),
])
def test_a_variable_that_would_run_a_command_is_refused_before_anything_runs(folder, target, variable, value):
    marker = folder / "marker"
    extra = ["METHOD=erm"] if target == "rerun-method" and variable != "METHOD" else []
    result, calls = make(folder, target, f"{variable}={value.format(marker=marker)}", *extra)
    assert result.returncode != 0
    assert f"*** {variable}=" in result.stderr and "is refused" in result.stderr or "unpaired" in result.stderr, \
        result.stderr
    assert not marker.exists() and not calls, (result.stdout, calls)


def test_valid_values_reach_snakemake_word_for_word(folder):
    result, calls = make(folder, "rerun-method", "METHOD=mex+cos", "CONFIG=config/a.yaml config/b.yaml",
                         "PROFILE=profiles/local", "CORES=all",
                         "SMK_ARGS=--config 'seeds=[0, 1]' 'methods={erm: {}}' -n")
    assert result.returncode == 0, result.stderr
    assert calls[0] == ["python", "scripts/stale_lock.py"]
    # the two ends of the --summary pipe run at once: found by what they are, not by their order
    summary = next(call for call in calls if call[0] == "snakemake" and "--summary" in call)
    runs = next(call for call in calls if call[0] == "python" and "scripts/slurm/method_runs.py" in call)
    run = calls[-1]
    options = ["--config", "seeds=[0, 1]", "methods={erm: {}}", "-n"]
    assert summary == ["snakemake", "--configfile", "config/a.yaml", "config/b.yaml", *options, "--summary"]
    assert runs[:3] == ["python", "scripts/slurm/method_runs.py", "mex+cos"]
    assert run == ["snakemake", "--profile", "profiles/local", "--rerun-triggers", "params", "input", "software-env",
                   "--max-checksum-file-size", "1TB", "--configfile", "config/a.yaml", "config/b.yaml", *options,
                   "--rerun-triggers", "mtime", "--forcerun"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_that_runs_the_workflow_clears_a_stale_lock_first_and_reruns_by_content(folder, target):
    result, calls = make(folder, target, *(["METHOD=erm"] if target == "rerun-method" else []))
    assert result.returncode == 0, result.stderr
    assert calls[0] == ["python", "scripts/stale_lock.py"], calls
    runs = [call for call in calls if call[0] == "snakemake" and "--summary" not in call]
    assert runs, calls
    for call in runs:
        at = call.index("--rerun-triggers")
        assert call[at + 1:at + 4] == ["params", "input", "software-env"], call
        assert call[call.index("--max-checksum-file-size") + 1] == "1TB", call
