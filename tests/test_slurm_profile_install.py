"""`snakemake --cores all --profile slurm` from the repository root, literally: `make slurm-profile`
links profiles/slurm where Snakemake looks a profile name up, and the literal command then plans the workflow."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_make_slurm_profile_makes_the_literal_readme_command_work(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    literal = [sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm", "-n",
               "--configfile", "config/demo.yaml", "--directory", str(tmp_path / "work")]
    before = subprocess.run(literal, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert before.returncode != 0 and "profile directory given (slurm)" in before.stderr  # what users saw
    made = subprocess.run(["make", "-s", "slurm-profile"], cwd=REPO, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    link = tmp_path / "config" / "snakemake" / "slurm"
    assert link.is_symlink() and link.resolve() == (REPO / "profiles" / "slurm").resolve()
    after = subprocess.run(literal, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "train_seeds" in after.stdout  # the demo's DAG, planned through the SLURM executor
    # a second run keeps the link; a user's own `slurm` profile folder is never replaced
    assert subprocess.run(["make", "-s", "slurm-profile"], cwd=REPO, env=env, capture_output=True).returncode == 0
    link.unlink()
    link.mkdir()
    refused = subprocess.run(["make", "-s", "slurm-profile"], cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "exists and is not a link" in refused.stderr
