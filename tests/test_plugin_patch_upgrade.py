"""scripts/slurm/patch_plugin.sh on a plugin that carries an earlier version of the patch (the
patch gained the NODE_FAIL fix; a venv set up before must get it from `make setup` instead of "does not apply")."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PATCH = REPO / "scripts" / "slurm" / "snakemake-executor-plugin-slurm-2.8.0.patch"
SCRIPT = REPO / "scripts" / "slurm" / "patch_plugin.sh"


def _installed():
    try:
        import snakemake_executor_plugin_slurm as plugin
    except ImportError:
        return None
    return Path(plugin.__file__).parent


def _patch(directory, text, *options):
    return subprocess.run(["patch", "-d", str(directory), "-p1", "--silent", *options], input=text, text=True,
                          capture_output=True)


def _only(text: str, name: str) -> str:
    """the part of the patch that changes `name` (an earlier version of it: fewer fixes)"""
    files = re.split(r"(?m)^(?=--- a/)", text)
    return "".join(part for part in files[1:] if part.startswith(f"--- a/snakemake_executor_plugin_slurm/{name}"))


@pytest.mark.skipif(shutil.which("patch") is None, reason="no 'patch' program")
def test_an_earlier_version_of_the_patch_is_replaced(tmp_path):
    installed = _installed()
    if installed is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    site = tmp_path / "site"
    package = site / "snakemake_executor_plugin_slurm"
    shutil.copytree(installed, package, ignore=shutil.ignore_patterns("__pycache__"))
    text = PATCH.read_text()
    if _patch(site, text, "--reverse", "--dry-run").returncode != 0:
        pytest.skip("the installed plugin does not carry this patch (make setup)")
    assert _patch(site, text, "--reverse").returncode == 0          # the release as published
    assert _patch(site, _only(text, "accounts.py")).returncode == 0  # an earlier patch: the account fix only
    # an interpreter that imports this copy of the plugin (PYTHONPATH comes before site-packages)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    check = subprocess.run(["bash", str(SCRIPT), "--check", str(python)], capture_output=True, text=True)
    assert check.returncode != 0 and "is not applied" in check.stderr

    result = subprocess.run(["bash", str(SCRIPT), str(python)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr
    assert "replaced an earlier version" in result.stdout
    assert subprocess.run(["bash", str(SCRIPT), "--check", str(python)]).returncode == 0
    for path in installed.glob("*.py"):
        assert (package / path.name).read_text() == path.read_text(), path.name
    assert not list(package.glob("*.orig")) and not list(package.glob("*.rej"))
