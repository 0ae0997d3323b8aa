"""A copy of the repository's code in a folder of its own, and Snakemake run there on a tiny config: what the tests
of reruns, locks and the config check use, so that an edit they make (a touched script, an edited library module)
or an edit made in the checkout while they run changes nothing but their copy."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import REPO, SHIPPED_DATA_HOME

#: what a workflow run needs of the repository
CODE = ("workflow", "scripts", "extrapbench", "envs", "profiles")
DATASET_FILE = "matbench_phonons.json.gz"

#: phonons_top, ERM on a small Magpie MLP, seeds 0 and 1 trained in turn by one train_seeds job, the edge reference
TINY = {
    "data_home": "data_home",
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
    "methods": {"erm": {}},
    "seeds": [0, 1],
    "train": {"max_epochs": 2, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
    "references": {"edge_train": {}},
    "in_distribution": None,
    "resources": {"train_threads": 1, "seeds_in_one_job": True},
}


def code_files() -> list[str]:
    """The repository's files under CODE, as git sees the working tree (tracked and untracked, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *CODE],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    return sorted(name for name in listed if name and "__pycache__" not in name and (REPO / name).is_file())


def copy_code(destination: Path, keep_mtimes: bool = True) -> Path:
    """The repository's code into `destination` (files copied with their mtimes, or new ones), with a data_home of
    the shipped phonons file."""
    copy = shutil.copy2 if keep_mtimes else shutil.copyfile
    for name in code_files():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        copy(REPO / name, destination / name)
    (destination / "data_home").mkdir(parents=True, exist_ok=True)
    copy(SHIPPED_DATA_HOME / DATASET_FILE, destination / "data_home" / DATASET_FILE)
    return destination


def snakemake(workdir: Path, *args: str, profile: bool = True, config: str = "config.yaml", timeout: int = 600,
              **popen) -> subprocess.CompletedProcess:
    """Snakemake in `workdir` on its own workflow copy, through its profiles/local (the rerun triggers the make
    targets use) unless `profile` is False, on 2 cores; the jobs import the copy's extrapbench."""
    command = [sys.executable, "-m", "snakemake", *(["--profile", "profiles/local"] if profile else []),
               "--cores", "2", *(["--configfile", config] if config else []), *args]
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, **popen)


def planned(result: subprocess.CompletedProcess) -> Counter:
    """rule -> jobs of a dry run's "Job stats" table (empty: nothing to be done)."""
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-5000:]
    if "Nothing to be done" in text:
        return Counter()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = Counter()
    for line in table.splitlines():
        match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s*", line)
        if match and match.group(1) not in ("job", "total"):
            jobs[match.group(1)] = int(match.group(2))
    assert jobs, text[-5000:]
    return jobs
