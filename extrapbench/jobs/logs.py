"""A rule job's output in its log: stdout, stderr and logging records (tqdm bars, warnings, tracebacks) go to the
rule's log file, and why a job failed is said on Snakemake's own console as well.

A failure goes to the log with its full traceback; in addition one line,
``extrapbench: <rule> failed: <ExceptionType>: <message> (log: <path>)``, goes to the stderr Snakemake shows, so
the cause is on the console next to Snakemake's "Error in rule ..." instead of at the end of a traceback in the log
(`report_failure`; extrapbench.jobs.rule.run_rule calls it, and an exception nothing reported does too).

Attempts: Snakemake deletes a job's log before it runs the job again. A resumable job (training, which resumes
from its per-epoch checkpoint) calls `keep_attempt(log, resuming=<whether a checkpoint from an earlier attempt
exists>)` (or passes `resumable=True, resuming=...` to `redirect_to_log`): each attempt's log is then also
hard-linked as ``<log>.attempt<N>``, which survives Snakemake's deletion, so a resumed run keeps the logs of every
attempt. `finish_attempt()` drops the link of an attempt that completed (its content is the log itself); a fresh
start (no checkpoint) removes the links of earlier, unrelated attempts.

A job that trains several runs in turn, each with its own log (train_seeds: one log per seed, as train writes it),
calls `redirect_to_log(<that run's log>, ...)` before each run: output then goes to that log, and each log keeps
its own attempt links. Every link this attempt made stays until `finish_attempt()`, when the whole job is done: a
job killed in its second run keeps the first run's log of this attempt too.

Progress bars: tqdm redraws a bar in place with '\r'. Snakemake's `show-failed-logs` prints a failed job's log
split with str.splitlines(), which splits at '\r' as well, so every redraw used to become a console line (~1,200 for
one training job, the traceback after them). The log now holds each bar as one line (ProgressFilter): its latest
state, rewritten in place at most every 10 s while it runs (a job killed mid-bar leaves where it was), its final
state when it ends, and the state a job failed in before the traceback. A failed job's log is then short and ends
with its traceback. (`tail -f` on a running job's log says "file truncated" at each rewrite; `cat` it instead. A
bar was never shown on a terminal: a job's output goes to its log.)
"""
from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import time
import traceback
from pathlib import Path

#: the current log, its rule, this attempt's logs and links, every handle opened, the exceptions already reported
_STATE = {}
RECORD_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: the longest message the console line shows
CONSOLE_MESSAGE_CHARS = 1500


class ProgressFilter(io.TextIOBase):
    """A text stream over the log file (opened for appending) that keeps a '\r'-redrawn line (a progress bar) as one
    line, always its latest state.

    Text after a '\r' replaces the line being drawn. That line's state is written at the end of the file without
    its '\r' and, on a redraw, replaced in place (the file is cut back to where the line began, then the new state
    appended), at most every `interval` seconds; its final state is written when a newline ends it or
    `finish_line()` is called (job end, failure, another log). So the file never holds a '\r', and a job killed
    mid-bar (scancel, timeout, out of memory) leaves the bar's state of at most `interval` seconds before."""

    _PIECES = re.compile(r"(\r\n|\n|\r)")

    def __init__(self, handle, clock=time.monotonic, interval: float = 10.0):
        self._handle = handle
        self._clock = clock
        self._interval = interval
        self._held = ""           # the current line, not yet written with its newline
        self._redrawn = False     # the current line came after a '\r' (a bar)
        self._replace = False     # the next text replaces the held line (after a '\r')
        self._shown_at = None     # file offset where the held line's written state begins, if one is written
        self._shown_time = None   # when it was last written

    def write(self, text: str) -> int:
        for piece in self._PIECES.split(text):
            if not piece:
                continue
            if piece in ("\n", "\r\n"):
                self._emit()
            elif piece == "\r":
                self._replace = True
            elif self._replace:       # a redraw
                self._held, self._redrawn, self._replace = piece, True, False
                self._show()
            else:
                self._held += piece
        return len(text)

    def _cut_back(self) -> None:
        """Remove the held line's written state from the file."""
        if self._shown_at is not None:
            self._handle.flush()
            os.ftruncate(self._handle.fileno(), self._shown_at)
            self._shown_at = None

    def _show(self) -> None:
        now = self._clock()
        if self._shown_time is not None and now - self._shown_time < self._interval:
            return
        self._handle.flush()
        if self._shown_at is None:
            self._shown_at = os.fstat(self._handle.fileno()).st_size
        else:
            os.ftruncate(self._handle.fileno(), self._shown_at)
        self._handle.write(self._held.rstrip())
        self._handle.flush()
        self._shown_time = now

    def _emit(self) -> None:
        line = self._held.rstrip() if self._redrawn else self._held
        self._cut_back()
        if line.strip() or not self._redrawn:   # a bar that was cleared (leave=False) leaves no empty line
            self._handle.write(line + "\n")
        self._held, self._redrawn, self._replace = "", False, False
        self._shown_time = None

    def finish_line(self) -> None:
        """Write the held line (a bar's current state), if any, and flush."""
        if self._held:
            self._emit()
        self.flush()

    def flush(self) -> None:
        self._handle.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._handle.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def buffer(self):   # bytes written here bypass the filter (no library of this workflow does)
        return self._handle.buffer

    @property
    def encoding(self):
        return getattr(self._handle, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._handle, "errors", "strict")


def _finish_lines() -> None:
    for handle in _STATE.get("handles", []):
        try:
            handle.finish_line()
        except (OSError, ValueError):
            pass


def _attempt_links(log: Path) -> list:
    links = []
    for path in log.parent.glob(log.name + ".attempt*"):
        suffix = path.name[len(log.name) + len(".attempt"):]
        if suffix.isdigit():
            links.append((int(suffix), path))
    return [path for _, path in sorted(links)]


def redirect_to_log(log, *, rule: str | None = None, append: bool = False, resumable: bool = False,
                    resuming: bool = False) -> None:
    """stdout, stderr and logging records (INFO and up) to `log`, replacing an earlier redirect of this process;
    nothing where `log` is None. `rule`: the name the console line gives (default: the earlier redirect's, else
    "job"). `append`: continue a log this job wrote earlier (train_seeds: a failed seed's error goes back to its
    log). `resumable`, `resuming`: keep_attempt(log, resuming) as well."""
    if log is None:
        return
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    if not append:
        open(log, "w").close()
    # appending: a progress bar's line is replaced in place by cutting the file back (ProgressFilter)
    handle = ProgressFilter(open(log, "a", buffering=1))
    if _STATE.get("handles"):  # an earlier log of this job: flushed, left open (a library may still hold it)
        _STATE["handles"][-1].finish_line()
    else:
        atexit.register(_finish_lines)   # a bar still drawn when the job ends: its last state
    sys.stdout = sys.stderr = handle
    # force: replace any handler a host process (or an earlier log of this job) installed
    logging.basicConfig(stream=handle, level=logging.INFO, format=RECORD_FORMAT, force=True)
    _STATE.update(log=log, rule=rule or _STATE.get("rule") or "job", handle=handle, attempts=[])
    _STATE.setdefault("handles", []).append(handle)
    _STATE.setdefault("links", [])
    _STATE.setdefault("reported", [])
    sys.excepthook = _report_unreported
    if resumable:
        keep_attempt(log, resuming=resuming)


def keep_attempt(log, resuming: bool) -> None:
    """Hard-link `log` (the current log, just redirected to) as ``<log>.attempt<N>``, so that this attempt's log
    survives Snakemake's deletion of the job's logs; `resuming`: an earlier attempt left something this one goes on
    from (its links stay and this one says where they are), else they go."""
    log = Path(log)
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
        _STATE.setdefault("links", []).append(link)
    except OSError:  # a file system without hard links (or no log yet): the attempt is not kept
        pass
    _STATE["attempts"] = [str(p) for p in earlier] + [str(log)]
    if earlier:
        print(f"attempt {number}; the logs of the earlier attempts: {', '.join(map(str, earlier))}", flush=True)


def console_line(exc: BaseException, rule: str, log) -> str:
    """The one line that says on the console why the job stopped (an exception with a true ``keeps_lines``
    attribute: its message's lines, whole)."""
    if isinstance(exc, KeyboardInterrupt):
        return f"extrapbench: {rule} interrupted (log: {log})"
    if getattr(exc, "keeps_lines", False):  # a message of one line per item (a stale run each): shown whole
        message = str(exc).rstrip()
    else:
        message = " ".join(str(exc).split())  # one line, however the message is laid out
        if len(message) > CONSOLE_MESSAGE_CHARS:
            message = message[:CONSOLE_MESSAGE_CHARS] + " ..."
    return f"extrapbench: {rule} failed: {type(exc).__name__}: {message} (log: {log})"


def report_failure(exc: BaseException) -> None:
    """`exc`'s traceback to the current log (after the state of a bar the job failed in), and its console_line
    to the console. Nothing where no log was redirected to (the traceback then reaches the console as it is)."""
    handle = _STATE.get("handle")
    if handle is None:
        return
    _STATE["reported"].append(exc)
    handle.finish_line()
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=handle)
    handle.finish_line()
    try:
        sys.__stderr__.write(console_line(exc, _STATE["rule"], _STATE["log"]) + "\n")
        sys.__stderr__.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _report_unreported(kind, value, tb) -> None:
    """sys.excepthook: an exception that ends the process is reported once (report_failure)."""
    if not any(value is reported for reported in _STATE.get("reported", [])):
        report_failure(value)


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
