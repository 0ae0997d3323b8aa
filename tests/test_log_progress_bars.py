"""A job's log keeps progress bars (tqdm) as a few lines, not one line per update.

tqdm redraws a bar with '\\r'. Snakemake's `show-failed-logs` (both profiles) prints a failed job's log split with
str.splitlines(), which splits at '\\r' too: a training job that failed printed ~1,200 bar lines on the console,
the traceback after them. extrapbench.jobs.logs keeps each bar as one line of the log, its latest state (rewritten
in place), so the log a failure prints is short and ends with the error.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

JOB = textwrap.dedent("""
    from tqdm.auto import tqdm
    from extrapbench.jobs.rule import run_rule

    class Snakemake:
        log = [{log!r}]
        rule = "train"

    def main(snakemake):
        print("training phonons_top/magpie_mlp/erm/seed0")
        for epoch in tqdm(range(3000), desc="main epochs", mininterval=0, miniters=1):
            if epoch == {fail_at}:
                raise FloatingPointError(f"non-finite training loss nan at epoch {{epoch}}; lower the learning rate")
        print("done")

    run_rule(main, Snakemake)
""")


def _job(tmp_path, fail_at):
    log = tmp_path / "logs" / "train.log"
    code = JOB.format(log=str(log), fail_at=fail_at)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120), log


def test_a_failed_jobs_log_is_short_and_ends_with_the_error(tmp_path):
    result, log = _job(tmp_path, fail_at=2500)
    assert result.returncode != 0
    text = log.read_text()
    lines = text.splitlines()          # as Snakemake's show-failed-logs splits it ('\r' included)
    assert len(lines) < 50, f"{len(lines)} lines in the log"
    assert "\r" not in text
    assert lines[0] == "training phonons_top/magpie_mlp/erm/seed0"
    assert lines[-1] == ("FloatingPointError: non-finite training loss nan at epoch 2500; "
                         "lower the learning rate")
    # the bar's state when the job failed is kept, once, before the traceback
    bars = [line for line in lines if line.startswith("main epochs:")]
    assert len(bars) == 1 and "2500/3000" in bars[0]
    assert lines.index(bars[0]) < lines.index("Traceback (most recent call last):")
    # the console line that says why is unchanged
    assert result.stderr.strip().startswith("extrapbench: train failed: FloatingPointError: non-finite training")


def test_a_finished_bar_is_one_line(tmp_path):
    result, log = _job(tmp_path, fail_at=-1)
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("main epochs: 100%") and "3000/3000" in lines[1]
    assert lines[2] == "done"


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _filter(tmp_path):
    from extrapbench.jobs.logs import ProgressFilter
    path = tmp_path / "job.log"
    clock = _Clock()
    return ProgressFilter(open(path, "a", buffering=1), clock=clock), clock, path


def test_a_running_bar_is_one_line_in_the_log_rewritten_in_place(tmp_path):
    """a job killed mid-bar (scancel, timeout, out of memory: no chance to write anything) leaves the bar's state
    of at most 10 s before, as one line"""
    log, clock, path = _filter(tmp_path)
    log.write("start\n")
    log.write("\rmain epochs: 0")
    assert path.read_text() == "start\nmain epochs: 0"           # the first state at once
    for second in range(1, 3600):
        clock.now = second
        log.write(f"\rmain epochs: {second}   ")
        log.flush()
        text = path.read_text()
        assert "\r" not in text and len(text.splitlines()) == 2
    assert path.read_text() == "start\nmain epochs: 3590"         # rewritten every 10 s
    log.write("\n")
    assert path.read_text() == "start\nmain epochs: 3599\n"      # the final state when the bar ends
    log.write("\rstage 2: 0")                                     # a new bar: at once again
    assert path.read_text() == "start\nmain epochs: 3599\nstage 2: 0"


def test_text_between_and_after_bar_updates_is_kept(tmp_path):
    log, clock, path = _filter(tmp_path)
    log.write("a line\r\n")                  # a Windows line end is a line end
    log.write("\rbar 1\rbar 2")
    log.write(" and a print\n")              # printed after the bar: a terminal shows both on one line
    clock.now = 100
    log.write("\rbar 3\r     \r")             # a bar tqdm clears (leave=False) leaves nothing
    log.write("last\n")
    log.write("\rpending")
    log.finish_line()
    assert path.read_text() == "a line\nbar 2 and a print\nlast\npending\n"
