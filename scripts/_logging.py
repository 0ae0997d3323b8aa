"""Send a rule script's stdout/stderr (tqdm bars, warnings, tracebacks) to the rule's log file, and say why a job
failed on Snakemake's own console as well.

An uncaught exception still goes to the log with its full traceback; in addition one line,
``extrapbench: <rule> failed: <ExceptionType>: <message> (log: <path>)``, goes to the stderr Snakemake shows, so
the cause is on the console next to Snakemake's "Error in rule ..." instead of at the end of a traceback in the log.

Attempts: Snakemake deletes a job's log before it runs the job again. A resumable job (training, which resumes
from its per-epoch checkpoint) passes `resumable=True` and `resuming=<whether a checkpoint from an earlier attempt
exists>`: each attempt's log is then also hard-linked as ``<log>.attempt<N>``, which survives Snakemake's deletion,
so a resumed run keeps the logs of every attempt. `finish_attempt()` drops the link of an attempt that completed
(its content is the log itself); a fresh start (no checkpoint) removes the links of earlier, unrelated attempts.

A job that trains several runs in turn, each with its own log (train_seeds: one log per seed, as train writes it),
calls `redirect_to_log(..., log=<that run's log>)` before each run: output then goes to that log, and each log keeps
its own attempt links. Every link this attempt made stays until `finish_attempt()`, when the whole job is done: a
job killed in its second run keeps the first run's log of this attempt too.
"""
import os
import sys
import traceback
from pathlib import Path

_STATE = {}


def _attempt_links(log: Path) -> list:
    links = []
    for path in log.parent.glob(log.name + ".attempt*"):
        suffix = path.name[len(log.name) + len(".attempt"):]
        if suffix.isdigit():
            links.append((int(suffix), path))
    return [path for _, path in sorted(links)]


def redirect_to_log(snakemake, resumable: bool = False, resuming: bool = False, log=None, append: bool = False) -> None:
    """stdout/stderr to `log` (default: the job's first log), replacing an earlier redirect of this process.
    `append`: continue a log this job wrote earlier (train_seeds: a failed seed's error goes back to its log)."""
    if log is None:
        if not snakemake.log:
            return
        log = snakemake.log[0]
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "a" if append else "w", buffering=1)
    console = sys.__stderr__
    if _STATE.get("handles"):  # an earlier log of this job: flushed, left open (a library may still hold it)
        _STATE["handles"][-1].flush()
    sys.stdout = sys.stderr = handle
    rule = getattr(snakemake, "rule", None) or "job"
    _STATE.update(log=log, rule=rule, attempts=[])
    _STATE.setdefault("handles", []).append(handle)
    _STATE.setdefault("links", [])

    if resumable:
        earlier = _attempt_links(log)
        if not resuming:
            for path in earlier:
                path.unlink(missing_ok=True)
            earlier = []
        number = len(earlier) + 1
        link = log.with_name(f"{log.name}.attempt{number}")
        try:
            link.unlink(missing_ok=True)
            os.link(log, link)
            _STATE["links"].append(link)
        except OSError:  # a file system without hard links: the attempt is not kept
            pass
        _STATE["attempts"] = [str(p) for p in earlier] + [str(log)]
        if earlier:
            print(f"attempt {number}; the logs of the earlier attempts: {', '.join(map(str, earlier))}", flush=True)

    def excepthook(kind, value, tb):
        traceback.print_exception(kind, value, tb, file=handle)
        handle.flush()
        if kind is KeyboardInterrupt:
            line = f"extrapbench: {rule} interrupted (log: {log})"
        else:
            message = " ".join(str(value).split())  # one line, however the message is laid out
            if len(message) > 1500:
                message = message[:1500] + " ..."
            line = f"extrapbench: {rule} failed: {kind.__name__}: {message} (log: {log})"
        try:
            console.write(line + "\n")
            console.flush()
        except (OSError, ValueError, AttributeError):
            pass

    sys.excepthook = excepthook


def attempt_logs() -> list:
    """The logs of every attempt of this job so far, this one last (resumable jobs; else [])."""
    return list(_STATE.get("attempts", []))


def attempt_link(log) -> str | None:
    """The link that keeps this attempt's `log` past Snakemake's deletion of the job's logs (resumable jobs), or
    None where none was made."""
    name = Path(log).name + ".attempt"
    for link in _STATE.get("links", []):
        if link.parent == Path(log).parent and link.name.startswith(name) and link.name[len(name):].isdigit():
            return str(link)
    return None


def finish_attempt() -> None:
    """The job completed: each of its logs is the log itself, so this attempt's extra links go."""
    links = _STATE.get("links", [])
    for link in links:
        Path(link).unlink(missing_ok=True)
    _STATE["attempts"] = [p for p in _STATE.get("attempts", []) if p not in {str(link) for link in links}]
    _STATE["links"] = []
