"""What every run records about where it came from: versions, git commit, device, host (no torch)."""
from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("extrapbench", "torch", "torch_geometric", "fairchem-core", "matminer", "pymatgen", "numpy", "pandas",
            "scipy", "scikit-learn", "snakemake")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: str | Path = ".") -> dict[str, object]:
    def git(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def code_digest() -> str:
    """sha256 over the extrapbench package's Python source (each file's path and bytes, in path order): the code
    version a run was trained with, git or not, committed or not."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def provenance(device_text: str) -> dict[str, object]:
    """What every run records: versions, git commit, code digest, host, Python, and `device_text` (the run's
    device in words: extrapbench.device.device_description for a training run, "cpu" for a reference predictor).
    No torch here, so the reference predictors' jobs need none."""
    return {"versions": package_versions(), "git": git_commit(Path(__file__).resolve().parent),
            "code_sha256": code_digest(), "device": device_text, "host": platform.node(),
            "python": platform.python_version()}
