"""Copy a finished run's Markdown tables into the repository, with where they came from.

    python benchmarks/snapshot_tables.py --config config/cpu_gnn_schnet.yaml --out benchmarks/results/cpu_gnn/schnet

Copies ``results/tables/*.md`` (and the PNGs of ``--figure`` globs) to ``--out`` and writes
``--out/PROVENANCE.md``: the config file, and over every run's ``provenance.json`` the git commits (and whether
the tree was dirty), the library's code digests, the package versions, the devices, epochs and training time. A
snapshot whose runs disagree on the commit or the code digest says so instead of hiding it; the runs still at
the same code as a commit can be checked with ``--check-commit`` (the code digest a clean checkout of that commit
gives, computed from ``git archive``).
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def code_digest_of_commit(commit: str) -> str:
    """The code digest of the extrapbench package at ``commit``, computed by that commit's own
    ``extrapbench/provenance.py`` (loaded from the archived tree, so its ``__file__`` locates that package)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "tree.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit,
                        "extrapbench"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        spec = importlib.util.spec_from_file_location("archived_provenance",
                                                      Path(tmp) / "extrapbench" / "provenance.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.code_digest()


def count_lines(counter: collections.Counter, label: str) -> list[str]:
    return [f"- {label} `{value}`: {n} run(s)" for value, n in counter.most_common()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the config file the run used (recorded, not read)")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--figure", action="append", default=[],
                        help="a glob under results/figures/ whose PNGs are copied too (repeatable)")
    parser.add_argument("--check-commit", action="append", default=[],
                        help="a commit whose clean code digest the runs are compared with (repeatable)")
    args = parser.parse_args(argv)

    tables = sorted((args.results / "tables").glob("*.md"))
    if not tables:
        parser.error(f"{args.results / 'tables'}: no Markdown tables (has the workflow finished?)")
    args.out.mkdir(parents=True, exist_ok=True)
    for table in tables:
        shutil.copy2(table, args.out / table.name)
    figures = sorted({p for pattern in args.figure for p in (args.results / "figures").glob(pattern)
                      if p.suffix == ".png"})
    for figure in figures:
        shutil.copy2(figure, args.out / figure.name)

    records = [json.loads(p.read_text()) for p in sorted(args.results.glob("runs/*/*/*/seed*/provenance.json"))]
    trained = [r for r in records if "epochs_run" in r]
    commits = collections.Counter(f"{r['git']['commit']}{' (dirty tree)' if r['git']['dirty'] else ''}"
                                  for r in trained)
    digests = collections.Counter(r["code_sha256"] for r in trained)
    devices = collections.Counter(r["device"] for r in trained)
    versions = collections.Counter(json.dumps(r["versions"], sort_keys=True) for r in trained)
    hours = sum(r["train_time_s"] for r in trained) / 3600
    lines = ["# Where these tables came from", "",
             f"- config: `{args.config}`; tables copied from `{args.results.name}/tables/` "
             f"({len(tables)} Markdown files){f', {len(figures)} figures' if figures else ''}",
             f"- {len(trained)} trained runs, {hours:.2f} h of training in all (sum of `train_time_s`), epochs "
             f"{min(r['epochs_run'] for r in trained)}–{max(r['epochs_run'] for r in trained)}",
             *count_lines(commits, "git commit"), *count_lines(digests, "code digest"),
             *count_lines(devices, "device")]
    for commit in args.check_commit:
        digest = code_digest_of_commit(commit)
        lines.append(f"- a clean checkout of `{commit}` has the code digest `{digest}`: "
                     f"{digests.get(digest, 0)} of {len(trained)} runs match it")
    for text in versions:
        lines.append(f"- versions: {', '.join(f'{k} {v}' for k, v in json.loads(text).items())}")
    (args.out / "PROVENANCE.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
