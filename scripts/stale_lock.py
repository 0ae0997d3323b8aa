"""Before a make target runs Snakemake: remove the lock that a killed Snakemake (kill -9, a lost terminal, a node
that went down) left in the working directory, so that a plain rerun does not stop at LockException — but only when
no Snakemake process, and no job one started, still runs in that directory.

usage: python scripts/stale_lock.py [DIRECTORY]     (default: the current directory)

Snakemake keeps its locks as files in DIRECTORY/.snakemake/locks/ (`snakemake --unlock` deletes them). They are
stale when no process whose working directory is DIRECTORY has "snakemake" in its command line: Snakemake itself,
and every job it runs (`python .snakemake/scripts/tmp....py`), run there. Anything else running there (a Snakemake
that still plans or runs, a job a killed Snakemake left behind) keeps the lock: Snakemake then decides, and stops
with LockException only if the other run's files overlap this one's. Exit status 0 either way; 2 on bad usage.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: where Snakemake (its default file persistence) keeps its locks, under the working directory
LOCK_FOLDER = Path(".snakemake") / "locks"


def lock_files(directory: Path) -> list[Path]:
    return sorted((directory / LOCK_FOLDER).glob("*.lock"))


def _ancestors() -> set[int]:
    """This process and its parents (make, the shell running this recipe line): never the lock's owner."""
    import psutil

    me = psutil.Process()
    return {me.pid} | {parent.pid for parent in me.parents()}


def snakemake_processes(directory: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process working in `directory` whose command line mentions snakemake, but
    this one and its parents. A process whose working directory cannot be read (another user's) is not counted."""
    import psutil

    directory = directory.resolve()
    mine = _ancestors()
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.pid in mine or not any("snakemake" in part for part in process.info["cmdline"] or []):
                continue
            if Path(process.cwd()).resolve() == directory:
                found.append((process.pid, " ".join(process.info["cmdline"])))
        except (psutil.Error, OSError):
            continue
    return found


def clear_stale_lock(directory: Path) -> str | None:
    """Remove the locks in `directory` if they are stale; what was done, in one line (None: no lock at all)."""
    locks = lock_files(directory)
    if not locks:
        return None
    running = snakemake_processes(directory)
    if running:
        pid, command = running[0]
        return (f"make: {directory / LOCK_FOLDER} is held: Snakemake still runs in {directory} (pid {pid}: "
                f"{command[:120]}{' ...' if len(command) > 120 else ''}"
                f"{f'; {len(running) - 1} more' if len(running) > 1 else ''}); not unlocked. If it is yours and "
                f"should not run, stop it (kill {pid}) and run the target again.")
    for lock in locks:
        lock.unlink(missing_ok=True)
    return (f"make: removed the lock a stopped Snakemake left in {directory / LOCK_FOLDER} (no Snakemake runs in "
            f"{directory}); its interrupted jobs rerun (--rerun-incomplete).")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    message = clear_stale_lock(Path(argv[0] if argv else os.getcwd()).resolve())
    if message:
        print(message, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
