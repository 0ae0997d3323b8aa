"""The ``extrapbench`` command (also ``python -m extrapbench``): a thin layer over extrapbench.api.

    extrapbench split TASK --config CFG --out DIR
        train.csv, val.csv, test.csv (id, composition, structure as CIF text where the dataset has structures,
        target_raw, target_transformed) and split.json (the split's digest, sizes, ranges, member ids)
    extrapbench score TASK PREDICTIONS.csv [MORE.csv: more seeds] --config CFG [--units raw|transformed]
                      [--references edge_train,edge_known,...] [--out scores.json] [--record record.json.gz]
        every metric of the tables, skill against the train edge, the reference predictors' rows and verdicts
    extrapbench compare A.json.gz B.json.gz ... [--out DIR]
        the MAE table with reference rows, the skill table and the paired tests of records

Exit status 0 on success, 1 when an input is refused (the reason in one line on stderr), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

PROG = "extrapbench"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Split, score and compare extrapolation results of "
                                     "models trained anywhere, on the benchmark's own splits.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{split,score,compare}")

    split = commands.add_parser("split", help="write a task's train / val / test parts and its split digest",
                                description="Write TASK's parts as the workflow splits them: train.csv, val.csv, "
                                "test.csv and split.json in DIR.")
    split.add_argument("task")
    split.add_argument("--config", required=True, help="the workflow config (e.g. config/demo.yaml)")
    split.add_argument("--out", required=True, help="folder for the files (made if missing)")

    score = commands.add_parser("score", help="score predictions made elsewhere (one file per seed)",
                                description="Score predictions (CSV: id,y_pred for every test id; val / train "
                                "rows optional) against the split's truth, beside the reference predictors.")
    score.add_argument("task")
    score.add_argument("predictions", nargs="+", help="CSV files id,y_pred, one per seed")
    score.add_argument("--config", required=True)
    score.add_argument("--units", choices=("raw", "transformed"), default="raw",
                       help="raw (default): the property as the dataset holds it; transformed: the task's transform "
                       "of it (e.g. the natural log), the units of the workflow's tables")
    score.add_argument("--references", default=None,
                       help="comma-separated reference predictors (default: the config's; random_forest and ridge "
                       "compute Magpie features first)")
    score.add_argument("--seeds", default=None, help="comma-separated seed of each file (default 0, 1, ...)")
    score.add_argument("--name", default="model", help="the model's row name (default: model)")
    score.add_argument("--tolerance", type=float, default=None,
                       help="relative tolerance of the verdicts (default 0.01: 1%% of the reference's MAE)")
    score.add_argument("--out", default=None, help="write the scores as JSON here")
    score.add_argument("--record", default=None, help="write the record (.json.gz) here, for `compare`")
    score.add_argument("--device", default=None, help="where the predictions were made, for the record")
    score.add_argument("--cache-dir", default=None, help="where Magpie features are kept "
                       "(default $EXTRAPBENCH_CACHE or ~/.cache/extrapbench)")

    compare = commands.add_parser("compare", help="the tables of several records side by side",
                                  description="The MAE table with the reference rows, the skill table and the "
                                  "paired tests of records written by `score --record` or Benchmark.to_file.")
    compare.add_argument("records", nargs="+")
    compare.add_argument("--out", default=None, help="also write each table as .md and .csv here")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired tests")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    warnings.showwarning = _show_warning
    from extrapbench.config.entries import ConfigError
    from extrapbench.data.errors import DatasetUnavailableError, DataValidationError
    from extrapbench.records.predictions import PredictionsError
    from extrapbench.records.record import RecordError

    refused = (PredictionsError, RecordError, ConfigError, DataValidationError, DatasetUnavailableError, KeyError,
               ValueError, FileNotFoundError)
    try:
        return {"split": split_command, "score": score_command, "compare": compare_command}[args.command](args)
    except refused as exc:
        if os.environ.get("EXTRAPBENCH_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from extrapbench.records.predictions import IgnoredColumnWarning

    kind = "" if issubclass(category, IgnoredColumnWarning) else f" ({category.__name__})"
    print(f"{PROG}: warning{kind}: {message}", file=sys.stderr)


def _info(text: str) -> None:
    print(text, file=sys.stderr)


# ----------------------------------------------------------------------------------------------------------
# split
# ----------------------------------------------------------------------------------------------------------

def split_command(args) -> int:
    from extrapbench.api import Benchmark
    from extrapbench.files import write_atomic
    from extrapbench.provenance import code_digest, git_commit

    started = time.perf_counter()
    bench = Benchmark.from_config(args.config, tasks=[args.task])
    split = bench.tasks[args.task].split
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for part in ("train", "val", "test"):
        frame = split.part_table(part, cif=True).drop(columns=["target"])
        write_atomic(lambda p: frame.to_csv(p, index=False), out / f"{part}.csv")
        files[part] = f"{part}.csv"
    description = split.describe()
    document = {**description, "units": {"raw": f"{split.task.target!r} as the dataset holds it",
                                         "transformed": f"{split.task.transform} of it (what the workflow's tables "
                                                        f"report)"},
                "config": str(args.config), "files": files,
                "score_with": f"{PROG} score {args.task} PREDICTIONS.csv --config {args.config} --units raw",
                "code": {"git": git_commit(Path(__file__).resolve().parent), "code_sha256": code_digest()},
                "ids": {part: split.ids(part) for part in ("train", "val", "test")}}
    write_atomic(lambda p: Path(p).write_text(json.dumps(document, indent=1)), out / "split.json")
    for part in ("train", "val", "test"):
        d = description[part]
        print(f"{args.task} {part}: n={d['n']}, {split.task.target} [{d['raw'][0]:.4g}, {d['raw'][1]:.4g}] raw, "
              f"[{d['transformed'][0]:.4f}, {d['transformed'][1]:.4f}] transformed")
    print(f"split digest {split.digest}")
    print(f"wrote {', '.join(str(out / f) for f in [*files.values(), 'split.json'])} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


# ----------------------------------------------------------------------------------------------------------
# score
# ----------------------------------------------------------------------------------------------------------

def score_command(args) -> int:
    from extrapbench.api import Benchmark
    from extrapbench.records.scoring import DEFAULT_TOLERANCE

    started = time.perf_counter()
    references = None if args.references is None else [r for r in args.references.split(",") if r.strip()]
    seeds = (list(range(len(args.predictions))) if args.seeds is None
             else [int(s) for s in args.seeds.split(",") if s.strip()])
    if len(seeds) != len(args.predictions):
        raise ValueError(f"--seeds names {len(seeds)} seed(s) for {len(args.predictions)} predictions file(s)")
    bench = Benchmark.from_config(args.config, name=args.name, units=args.units, tasks=[args.task],
                                  references=references,
                                  tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
                                  cache_dir=args.cache_dir, device=args.device, progress=_info)
    task = bench.tasks[args.task]
    for seed, path in zip(seeds, args.predictions, strict=True):
        task.record(seed, path)
    scores = bench.scores()
    seed_rows = bench.seed_scores()
    print(render_scores(scores, task, bench))
    if args.out:
        from extrapbench.files import write_atomic

        document = {"task": args.task, "units": bench.units, "tolerance": bench.tolerance,
                    "split_digest": task.split.digest, "dataset_digest": task.split.dataset_digest,
                    "parts": task.parts, "files": {str(seed): str(path) for seed, path in zip(seeds, args.predictions)},
                    "scores": _records(scores), "seeds": _records(seed_rows)}
        write_atomic(lambda p: Path(p).write_text(json.dumps(document, indent=1, allow_nan=False)), args.out)
        print(f"wrote {args.out}")
    if args.record:
        bench.to_file(args.record)
        print(f"wrote {args.record}")
    _info(f"({time.perf_counter() - started:.1f} s)")
    return 0


def _records(frame) -> list[dict]:
    """Rows as JSON-safe dicts (NaN -> null)."""
    def clean(value: Any) -> Any:
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    return [{key: clean(value) for key, value in row.items()} for row in frame.to_dict("records")]


#: (column of the scores frame, header) of the printed table
PRINTED_METRICS = (("mae", "MAE"), ("gm", "GM"), ("spearman", "Spearman"), ("r2", "R²"), ("val_mae", "val MAE"),
                   ("detect_recall", "recall"), ("detect_precision", "precision"), ("detect_f1", "F1"),
                   ("detect_recall_release", "recall (release)"))


def render_scores(scores, task, bench) -> str:
    """The scores of one task as two Markdown tables (the metrics; skill and verdicts) with notes."""
    from extrapbench.naming import display_name
    from extrapbench.records.scoring import VERDICT_REFERENCES
    from extrapbench.report.format import format_p, mean_std_cell
    from extrapbench.report.references import REFERENCE_PREFIX
    from extrapbench.report.summary import std_note
    from extrapbench.report.text_table import TextTable

    def label(row):
        return f"{REFERENCE_PREFIX}{display_name(row['entry'])}" if row["role"] == "reference" else row["entry"]

    metrics = [(key, header) for key, header in PRINTED_METRICS if scores[f"{key}_mean"].notna().any()]
    rows = scores.to_dict("records")
    first = TextTable(title="", header=["entry", "seeds", *[h for _, h in metrics]],
                      cells=[[label(r), str(r["n_seeds"]), *[mean_std_cell(r[f"{k}_mean"], r[f"{k}_std"], 4)
                                                              for k, _ in metrics]] for r in rows],
                      frame=scores, align=["l", "r"] + ["r"] * len(metrics))
    present = [ref for ref in VERDICT_REFERENCES if f"vs_{ref}" in scores.columns]
    second = TextTable(title="", header=["entry", "skill", *[f"vs {display_name(ref)} (p)" for ref in present]],
                       cells=[[label(r), mean_std_cell(r["skill_mean"], r["skill_std"], 3, signed=True),
                               *[f"{r[f'vs_{ref}']} ({format_p(r[f'p_vs_{ref}'])})" for ref in present]]
                              for r in rows],
                       frame=scores, align=["l", "r"] + ["l"] * len(present))
    split = task.split
    units = (f"{split.task.target} as the dataset holds it" if bench.units == "raw"
             else f"{split.task.transform}({split.task.target})")
    notes = [f"task {task.id}: test n={split.summary['test']['n']}, parts scored {'+'.join(task.parts)}; "
             f"units: {bench.units} ({units}); split digest {split.digest}",
             f"cells: mean(std) over seeds ({std_note(int(bench.config.get('std_ddof', 1)))}; — for one seed). "
             "recall: val ∪ test (those scored) predicted beyond the train range; precision / F1 need train "
             "predictions.",
             (f"skill = 1 − MAE / MAE({REFERENCE_PREFIX}{display_name('edge_train')}) per seed (> 0 beats the "
              f"constant at the train edge)." if split.side in ("top", "bottom") else
              f"skill: — (split {split.summary.get('split')} has no held-out side, so no train-edge constant)."
              ) + f" Verdicts: beats / trails where the seed-mean test MAE is below / above "
             f"the reference's by more than {bench.tolerance:g} of it, ≈ within; p: paired t-test over seeds (n/a "
             f"below two)."]
    return "\n".join([first.to_markdown().strip(), "", second.to_markdown().strip(), "",
                      *[f"* {note}" for note in notes]])


# ----------------------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------------------

def compare_command(args) -> int:
    from extrapbench.records.compare import compare_records
    from extrapbench.records.record import read_record

    records = [(path, read_record(path)) for path in args.records]
    comparison = compare_records(records, alpha=args.alpha)
    titles = {"mae": f"test MAE ({comparison.units} units)", "skill": "skill against the train-edge constant",
              "paired": "paired t-tests over seeds"}
    for name, table in comparison.tables.items():
        print(f"## {titles[name]}\n\n{table.to_markdown().strip()}\n")
    for note in comparison.notes:
        print(f"* {note}")
    if args.out:
        out = Path(args.out)
        for name, table in comparison.tables.items():
            table.write(markdown_path=out / f"{name}.md", csv_path=out / f"{name}.csv")
        print(f"wrote {', '.join(f'{name}.md/.csv' for name in comparison.tables)} in {out}")
    return 0
