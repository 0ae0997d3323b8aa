"""How every rule script runs: its output to the job's log, then its `main`, and a failure said in one line.

A rule script (scripts/*.py) is a docstring, imports, ``def main(snakemake): ...`` and, last,
``run_rule(main, snakemake)``: Snakemake runs the file with the job's `snakemake` object in its globals.
"""
from __future__ import annotations

from extrapbench.jobs.logs import redirect_to_log, report_failure

#: the `snakemake` object of the job this process runs (set by run_rule)
_JOB: dict = {}


def current_job():
    """The `snakemake` object of the rule job run_rule is running in this process, or None: what code deeper down
    reads the job's own inputs from (the tables' and figures' stamp, extrapbench.report.stamp)."""
    return _JOB.get("snakemake")


def run_rule(main, snakemake, **options) -> None:
    """Send the job's stdout, stderr and logging records to its first log (extrapbench.jobs.logs.redirect_to_log,
    which `options` go to: resumable=, resuming=), then run ``main(snakemake)``. An exception (an interruption
    included) puts its full traceback in the log and one line on the console,
    ``extrapbench: <rule> failed: <ExceptionType>: <message> (log: <path>)``, and is raised on: the job's process
    exits non-zero (a caller in the same process, a test, gets the exception)."""
    redirect_to_log(snakemake.log[0] if snakemake.log else None, rule=getattr(snakemake, "rule", None) or "job",
                    **options)
    _JOB["snakemake"] = snakemake
    try:
        main(snakemake)
    except SystemExit:   # an exit the job chose: not a failure to report
        raise
    except BaseException as exc:
        report_failure(exc)
        raise
    finally:
        _JOB.pop("snakemake", None)
