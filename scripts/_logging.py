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

Progress bars: tqdm redraws a bar in place with '\r'. Snakemake's `show-failed-logs` prints a failed job's log
split with str.splitlines(), which splits at '\r' as well, so every redraw used to become a console line (~1,200 for
one training job, the traceback after them). The log now holds each bar as one line (_ProgressFilter): its latest
state, rewritten in place at most every 10 s while it runs (a job killed mid-bar leaves where it was), its final
state when it ends, and the state a job failed in before the traceback. A failed job's log is then short and ends
with its traceback. (`tail -f` on a running job's log says "file truncated" at each rewrite; `cat` it instead. A
bar was never shown on a terminal: a job's output goes to its log.)
"""
import atexit
import io
import os
import re
import sys
import time
import traceback
from pathlib import Path

_STATE = {}


class _ProgressFilter(io.TextIOBase):
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


def redirect_to_log(snakemake, resumable: bool = False, resuming: bool = False, log=None, append: bool = False) -> None:
    """stdout/stderr to `log` (default: the job's first log), replacing an earlier redirect of this process.
    `append`: continue a log this job wrote earlier (train_seeds: a failed seed's error goes back to its log)."""
    if log is None:
        if not snakemake.log:
            return
        log = snakemake.log[0]
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    if not append:
        open(log, "w").close()
    # appending: a progress bar's line is replaced in place by cutting the file back (_ProgressFilter)
    handle = _ProgressFilter(open(log, "a", buffering=1))
    console = sys.__stderr__
    if _STATE.get("handles"):  # an earlier log of this job: flushed, left open (a library may still hold it)
        _STATE["handles"][-1].finish_line()
    else:
        atexit.register(_finish_lines)   # a bar still drawn when the job ends: its last state
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
        handle.finish_line()            # the state of a bar the job failed in, then the traceback
        traceback.print_exception(kind, value, tb, file=handle)
        handle.finish_line()
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
