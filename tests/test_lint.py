"""`snakemake --lint` finds nothing to say about the workflow, for the full grid and for the embedded default."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("config", ["config/config.yaml", "config/demo.yaml"])
def test_snakemake_lint_is_clean(config, tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-s", str(REPO / "workflow" / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(REPO / config)],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Lints for" not in output, output[-5000:]


def test_workflow_files_are_formatted_by_snakefmt():
    """`snakefmt --check` at the line length in pyproject.toml ([tool.snakefmt]): reformat with `snakefmt workflow/`."""
    snakefmt = REPO / ".venv" / "bin" / "snakefmt"
    command = [str(snakefmt)] if snakefmt.exists() else [sys.executable, "-m", "snakefmt"]
    result = subprocess.run([*command, "--check", "--config", str(REPO / "pyproject.toml"), str(REPO / "workflow")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
