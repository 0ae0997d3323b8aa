"""Every rule script has one shape (a docstring, imports, functions, then ``run_rule(main, snakemake)``), run_rule
says why a job failed, and the training job's retry decision reads the failure an earlier attempt recorded."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from extrapbench.jobs.train import (DeterministicFailure, Failure, earlier_failure, failure_marker,
                                    is_deterministic, seeds_failure_message, train_job)

WORKFLOW_FILES = [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
#: the scripts a rule's `script:` runs (scripts/ also holds command-line tools the Makefile runs)
NAMED = {name for path in WORKFLOW_FILES for name in re.findall(r"scripts/(\w+\.py)", path.read_text())}
SCRIPTS = sorted(path for path in (REPO / "scripts").glob("*.py") if path.name in NAMED)


def test_there_are_rule_scripts_and_no_helpers_among_them():
    assert len(SCRIPTS) > 20
    assert not [path.name for path in (REPO / "scripts").glob("*.py") if path.name.startswith("_")]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_a_rule_script_is_a_docstring_imports_functions_and_run_rule(path):
    """every scripts/*.py that a rule runs"""
    source = path.read_text()
    body = ast.parse(source, str(path)).body
    assert ast.get_docstring(ast.Module(body=body, type_ignores=[])), f"{path.name}: no module docstring"
    docstrings = [node for node in body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert len(docstrings) == 1, f"{path.name}: one docstring, at the top"
    imports, functions, last = body[1:], [], body[-1]
    while imports and not isinstance(imports[-1], (ast.Import, ast.ImportFrom)):
        functions.insert(0, imports.pop())
    assert functions and functions[-1] is last
    assert all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in imports), \
        f"{path.name}: only imports between the docstring and the functions"
    others = [node for node in functions[:-1] if not isinstance(node, ast.FunctionDef)]
    assert not others, f"{path.name}:{others[0].lineno}: only function definitions after the imports"
    mains = [node for node in functions if isinstance(node, ast.FunctionDef) and node.name == "main"]
    assert len(mains) == 1 and [arg.arg for arg in mains[0].args.args] == ["snakemake"], \
        f"{path.name}: one `def main(snakemake)`"
    call = last.value if isinstance(last, ast.Expr) else None
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "run_rule", \
        f"{path.name}: the last statement is run_rule(...)"
    assert [getattr(arg, "id", None) for arg in call.args] == ["main", "snakemake"], path.name
    assert source.rstrip().splitlines()[-1].startswith("run_rule(main, snakemake")
    assert any(isinstance(node, ast.ImportFrom) and node.module == "extrapbench.jobs.rule"
               and [alias.name for alias in node.names] == ["run_rule"] for node in imports), path.name
    assert "sys.path" not in source, f"{path.name}: no sys.path manipulation"


# ---------------------------------------------------------------------------------------------------------------
# run_rule
# ---------------------------------------------------------------------------------------------------------------
JOB = textwrap.dedent("""
    from extrapbench.jobs.rule import run_rule
    import logging


    class Snakemake:
        log = [{log!r}]
        rule = "featurize_magpie"


    def main(snakemake):
        print("reading", snakemake.log[0])
        logging.getLogger("extrapbench.probe").info("a record")
        if {fail!r} == "error":
            raise KeyError("composition column\\nmissing")
        if {fail!r} == "interrupt":
            raise KeyboardInterrupt
        print("done")


    run_rule(main, Snakemake)
""")


def _job(tmp_path, fail):
    log, script = tmp_path / "logs" / "job.log", tmp_path / "job.py"
    script.write_text(JOB.format(log=str(log), fail=fail))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60), log


def test_run_rule_sends_a_jobs_output_to_its_log(tmp_path):
    result, log = _job(tmp_path, fail="")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    lines = log.read_text().splitlines()
    assert lines[0] == f"reading {log}" and lines[-1] == "done"
    assert lines[1].endswith(" INFO extrapbench.probe: a record")


def test_a_failing_main_says_why_in_one_console_line_and_leaves_its_traceback_in_the_log(tmp_path):
    result, log = _job(tmp_path, fail="error")
    assert result.returncode != 0
    assert result.stderr == (f"extrapbench: featurize_magpie failed: KeyError: 'composition column\\nmissing' "
                             f"(log: {log})\n")
    text = log.read_text()
    assert text.startswith(f"reading {log}\n")
    assert text.count("Traceback (most recent call last):") == 1 and 'raise KeyError("composition' in text
    assert text.rstrip().endswith("KeyError: 'composition column\\nmissing'")


def test_an_interrupted_job_says_so(tmp_path):
    result, log = _job(tmp_path, fail="interrupt")
    assert result.returncode != 0
    assert result.stderr == f"extrapbench: featurize_magpie interrupted (log: {log})\n"
    assert log.read_text().rstrip().endswith("KeyboardInterrupt")


# ---------------------------------------------------------------------------------------------------------------
# the training job's retry decision
# ---------------------------------------------------------------------------------------------------------------
def test_only_errors_more_runtime_cannot_change_are_deterministic():
    assert is_deterministic([FloatingPointError("non-finite loss")])
    assert is_deterministic([ValueError("bad lr"), KeyError("graph")])  # every failed seed's
    assert not is_deterministic([ValueError("bad lr"), OSError("disk")])
    assert not is_deterministic([RuntimeError("CUDA out of memory")])
    assert not is_deterministic([MemoryError()])
    assert not is_deterministic([])


def test_the_marker_lies_beside_the_first_log():
    assert failure_marker(["logs/seed0.log", "logs/seed1.log"], ["runs/seed0"]) == \
        Path("logs/seed0.log.deterministic-failure")
    assert failure_marker([], ["runs/seed0"]) == Path("runs/seed0/.deterministic-failure")


def test_a_retry_after_a_deterministic_failure_is_not_trained(tmp_path):
    marker = tmp_path / "seed0.log.deterministic-failure"
    Failure.of(FloatingPointError("non-finite training loss nan"), 1, tmp_path / "seed0.log").write(marker)
    failure = earlier_failure(marker, attempt=2)
    assert failure == Failure("FloatingPointError", "non-finite training loss nan", 1, str(tmp_path / "seed0.log"))
    error = failure.not_retried()
    assert isinstance(error, DeterministicFailure)
    assert str(error) == (f"FloatingPointError: non-finite training loss nan [not retried: attempt 1 failed this "
                          f"way, deterministically; its log: {tmp_path / 'seed0.log'}]")
    assert earlier_failure(marker, attempt=3) == failure  # each further retry stops too
    assert marker.exists()


def test_a_new_run_trains_again_and_drops_an_old_marker(tmp_path):
    marker = tmp_path / "seed0.log.deterministic-failure"
    Failure("ValueError", "bad learning rate", 1, None).write(marker)
    assert earlier_failure(marker, attempt=1) is None
    assert not marker.exists()
    assert earlier_failure(marker, attempt=2) is None  # a retry of a failure that was not deterministic


def test_an_unreadable_marker_does_not_stop_a_retry(tmp_path):
    marker = tmp_path / "seed0.log.deterministic-failure"
    marker.write_text('{"type": "ValueError"')
    assert earlier_failure(marker, attempt=2) is None
    assert not marker.exists()


def test_a_retried_job_stops_before_it_touches_its_runs(tmp_path, capsys):
    """train_job with plain arguments: attempt 2 after a deterministic failure raises at once; the runs' files
    (an earlier metrics.json included) are as they were."""
    log, run_dir = tmp_path / "logs" / "seed0.log", tmp_path / "runs" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text("{}")
    Failure("FloatingPointError", "non-finite training loss nan", 1, f"{log}.attempt1").write(
        failure_marker([log], [run_dir]))
    outputs = {kind: str(run_dir / name) for kind, name in (("predictions", "predictions.csv"), (
        "history", "history.csv"), ("checkpoint", "model.pt"), ("provenance", "provenance.json"))}
    with pytest.raises(DeterministicFailure, match=r"^FloatingPointError: non-finite training loss nan \[not "
                                                   r"retried: attempt 1 failed this way"):
        train_job(run={"seed": 0, "backbone_params": {}, "method_params": {}, "train_params": {}},
                  split_json="split.json", split_csv="split.csv", representation="magpie.csv", outputs=outputs,
                  logs=[log], backbone="magpie_mlp", method="erm", config={}, threads=1, predict_train=True,
                  attempt=2)
    assert "attempt 2: not retried, the failure is deterministic: attempt 1 failed with FloatingPointError" \
        in capsys.readouterr().out
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json"]


def test_a_failed_seeds_message_names_each_failure_and_the_finished_seeds():
    failures = [(0, IsADirectoryError("resume-main.pt"), "logs/seed0.log")]
    assert seeds_failure_message([0, 1], failures) == (
        "1 of 2 seeds failed: seed 0: IsADirectoryError: resume-main.pt (log: logs/seed0.log). Seed 1 finished: "
        "Snakemake removes every output of the failed job, but its resume checkpoint stays in its run folder, so a "
        "rerun restores it instead of training it again.")
    message = seeds_failure_message([0, 1, 2], failures)
    assert message.startswith("1 of 3 seeds failed: ") and " Seeds 1, 2 finished: " in message
    both = seeds_failure_message([0, 1], failures + [(1, ValueError("lr"), "logs/seed1.log")])
    assert both == ("2 of 2 seeds failed: seed 0: IsADirectoryError: resume-main.pt (log: logs/seed0.log); "
                    "seed 1: ValueError: lr (log: logs/seed1.log).")


def test_a_marker_is_plain_json(tmp_path):
    marker = tmp_path / "job.log.deterministic-failure"
    Failure("RuntimeError", "2 of 2 seeds failed", 1, "logs/seed0.log.attempt1").write(marker)
    assert json.loads(marker.read_text()) == {"type": "RuntimeError", "message": "2 of 2 seeds failed",
                                              "attempt": 1, "log": "logs/seed0.log.attempt1"}
