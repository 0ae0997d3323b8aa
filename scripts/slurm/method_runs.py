#!/usr/bin/env python3
"""From `snakemake --summary` (stdin), print one method's training outputs, for `snakemake --forcerun`.

    snakemake --summary --configfile CONFIG | python scripts/slurm/method_runs.py METHOD [TRAINING_RULE ...]

`make rerun-method METHOD=... CONFIG=...` runs exactly this and passes the paths to `snakemake --forcerun`:
Snakemake then retrains that method's runs of every task, backbone and seed, and its hyper-parameter grid points
when it has a selection grid, re-evaluates them and rebuilds whatever depends on them (selection, tables,
figures); no other method's run is touched. The list comes from the workflow's own DAG (the summary lists every
output with the rule making it), so it is right for any config. A row is the method's when it comes from one of
the training rules (default: train, train_seeds, train_grid_point) and its path matches one of the output-directory
patterns of workflow/rules/common.smk (RUN_DIR, POINT_DIR, ...: every `NAME = "results/...{method}..."`) with that
method.
Exit status 2, printing nothing, when the method has no training output in the summary.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRAINING_RULES = ("train", "train_seeds", "train_grid_point")
WILDCARD_PATTERNS = {"seed": r"\d+"}  # everything else: one path component


def output_dir_patterns() -> list[re.Pattern]:
    """The `NAME = "results/...{method}..."` constants of common.smk, as regexes capturing the wildcards."""
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    patterns = []
    for template in re.findall(r'^[A-Z_]+ = "(results/[^"]*\{method\}[^"]*)"', text, re.M):
        regex = ""
        for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
            regex += re.escape(literal)
            if name:
                regex += f"(?P<{name}>{WILDCARD_PATTERNS.get(name, '[^/]+')})"
        patterns.append(re.compile(regex + "/"))
    if not patterns:
        raise SystemExit("method_runs.py: no output directory pattern with {method} in workflow/rules/common.smk")
    return patterns


def method_outputs(summary: str, method: str, training_rules=DEFAULT_TRAINING_RULES) -> tuple[list[str], set[str]]:
    """(one output per training job of the method, every method seen in training outputs)."""
    patterns = output_dir_patterns()
    found, methods, jobs = [], set(), set()
    for line in summary.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[2] not in training_rules:
            continue
        for pattern in patterns:
            match = pattern.match(fields[0])
            if match:
                methods.add(match.group("method"))
                if match.group("method") == method and match.group(0) not in jobs:
                    # one output per directory: forcing one forces its job (a train_seeds job's seeds: each
                    # folder's output forces the same job, once)
                    jobs.add(match.group(0))
                    found.append(fields[0])
                break
    return found, methods


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    method, rules = argv[0], tuple(argv[1:]) or DEFAULT_TRAINING_RULES
    found, methods = method_outputs(sys.stdin.read(), method, rules)
    if not found:
        print(f"method_runs.py: the workflow has no training output of method {method!r} (read from snakemake "
              f"--summary; rules {', '.join(rules)}); its methods: {', '.join(sorted(methods)) or 'none'}",
              file=sys.stderr)
        return 2
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
