"""Work-arounds for Snakemake itself, applied by the workflow (workflow/Snakefile) whenever it is parsed: by the
main Snakemake process and by every cluster job's, so they reach every rule. Nothing here imports torch.

`quote_script_interpreter`: Snakemake (8 and 9, up to at least 9.27) runs a `script:` rule as the shell command
``{py_exec} {fname:q}``: the script's path is quoted, the interpreter's (`sys.executable`, e.g. the .venv of a
checkout) is not (snakemake/snakemake#2645, open). Under a path with a space every rule of this workflow would fail
with ``bash: /path/with: No such file or directory``. The patch quotes the interpreter in that one command and
changes nothing else; once Snakemake quotes it itself, the command it looks for no longer occurs and the patch is
inert.
"""
from __future__ import annotations

#: the command Snakemake's PythonScript.execute_script formats, and the same with the interpreter quoted
UNQUOTED_PYTHON_SCRIPT = "{py_exec} {fname:q}"
QUOTED_PYTHON_SCRIPT = "{py_exec:q} {fname:q}"


def quote_script_interpreter() -> bool:
    """Quote the interpreter of Snakemake's `script:` command for Python scripts (idempotent). False when this
    Snakemake has no such command to patch (another version's layout): nothing is changed then."""
    try:
        from snakemake.script import PythonScript
    except ImportError:  # pragma: no cover - a Snakemake without the script module
        return False
    execute_cmd = getattr(PythonScript, "_execute_cmd", None)
    if execute_cmd is None:
        return False
    if getattr(execute_cmd, "_extrapbench_quoted", False):
        return True

    def _execute_cmd(self, cmd, **kwargs):
        if cmd == UNQUOTED_PYTHON_SCRIPT:
            cmd = QUOTED_PYTHON_SCRIPT
        return execute_cmd(self, cmd, **kwargs)

    _execute_cmd._extrapbench_quoted = True
    PythonScript._execute_cmd = _execute_cmd
    return True
