"""Weak evidence is said in the tables: a cell whose runs kept their best checkpoint from the first epochs (◁) or at
the epoch cap (▷) is marked and the notes count them; a paired-test verdict from two seeds is marked indicative."""
from __future__ import annotations

import pandas as pd
import pytest

from extrapbench.report.beats_table import beats_table
from extrapbench.report.summary import collect, summarize
from extrapbench.report.tables import paper_table

EARLY_MARK, CAP_MARK = "◁", "▷"   # extrapbench.report.evidence


def _run(task, method, seed, mae, best_epoch, max_epochs=40, **extra):
    return {"task": task, "backbone": "magpie_mlp", "method": method, "seed": seed, "mae": mae, "gm": mae,
            "spearman": 0.5, "n_test": 190, "best_epoch": best_epoch, "epochs_run": best_epoch + 11,
            "max_epochs": max_epochs, **extra}


def _runs():
    return collect([
        # ERM: best checkpoint at epoch 1 on both seeds of phonons_top (the demo's case)
        _run("phonons_top", "erm", 0, 0.66, 1), _run("phonons_top", "erm", 1, 0.67, 1),
        # MEX: one seed still improving at the 40-epoch cap
        _run("phonons_top", "mex", 0, 0.70, 39), _run("phonons_top", "mex", 1, 0.72, 20),
        _run("phonons_top", "edge_train", 0, 0.787, -1, max_epochs=None) | {"best_epoch": None, "epochs_run": None},
        _run("phonons_top", "edge_train", 1, 0.787, -1, max_epochs=None) | {"best_epoch": None, "epochs_run": None},
    ])


def _cell(markdown: str, method: str) -> str:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| Magpie MLP | {method} |")
                or line.startswith(f"| MLP (Magpie) | {method} |") or f"| {method} |" in line)
    return line.split("|")[3].strip()


@pytest.mark.parametrize("metric", ["mae", "gm", "spearman"])
def test_the_main_tables_mark_early_and_capped_best_epochs_and_count_them(metric):
    summary = summarize(_runs())
    row = summary.set_index("method").loc["erm"]
    assert (row["n_best_early"], row["n_best_at_cap"], row["n_epochs_known"]) == (2, 0, 2)
    assert summary.set_index("method").loc["mex", "n_best_at_cap"] == 1
    table = paper_table(summary, metric, references=["edge_train"])
    markdown = table.to_markdown()
    assert EARLY_MARK in _cell(markdown, "ERM") and CAP_MARK not in _cell(markdown, "ERM")
    assert CAP_MARK in _cell(markdown, "MEX") and EARLY_MARK not in _cell(markdown, "MEX")
    assert EARLY_MARK not in _cell(markdown, "ref: Edge (train)")
    assert "4 method runs in this table: 2 of 4 at epoch ≤ 2 (◁), 1 of 4 at the epoch cap (▷)" in markdown
    assert "still improving when it was stopped" in markdown and "barely trained" in markdown
    body = table.to_latex().split(r"\begin{tabular}", 1)[1]   # the notes before it are comments, in plain text
    assert r"$^{\triangleleft}$" in body and r"$^{\triangleright}$" in body and EARLY_MARK not in body
    frame = table.to_frame().set_index("method")
    assert frame.loc["erm", "phonons_top_n_best_early"] == 2


def test_the_beats_table_marks_the_mae_cell_and_counts_the_runs():
    table = beats_table(_runs(), methods=["erm", "mex"])
    cells = {row[2]: row for row in table.cells}
    assert cells["ERM"][4].endswith(EARLY_MARK) and cells["MEX"][4].endswith(CAP_MARK)
    notes = " ".join(table.notes)
    assert "2 of 4 at epoch ≤ 2 (◁), 1 of 4 at the epoch cap (▷)" in notes
    assert table.frame.set_index("method").loc["mex", "n_best_at_cap"] == 1


def test_two_seed_verdicts_are_indicative_and_three_seeds_plain():
    two = collect([_run("phonons_top", m, s, mae, 10) for m, maes in
                   (("erm", [1.0, 1.1]), ("mex", [0.5, 0.62]), ("edge_train", [0.9, 0.9])) for s, mae in
                   enumerate(maes)])
    table = beats_table(two, methods=["erm", "mex"])
    cells = {row[2]: row for row in table.cells}
    assert cells["MEX"][7] == "beats?" and cells["MEX"][10] == "≈?"
    assert any("two seeds" in note and "indicative" in note for note in table.notes)
    assert "With 2 seeds a paired t-test has 1 degree(s) of freedom" in " ".join(table.notes)
    three = collect([_run("phonons_top", m, s, mae, 10) for m, maes in
                     (("erm", [1.0, 1.1, 1.2]), ("mex", [0.5, 0.7, 0.6]), ("edge_train", [1.5, 1.5, 1.5]))
                     for s, mae in enumerate(maes)])
    table = beats_table(three, methods=["erm", "mex"])
    cells = {row[2]: row for row in table.cells}
    assert cells["MEX"][7] == "beats" and cells["MEX"][10] == "beats"
    assert not any("indicative" in note for note in table.notes)


def test_metrics_json_records_the_epoch_cap_from_the_provenance():
    from extrapbench.evaluation.runs import run_metrics

    split = {"task": "toy_top", "side": "top", "train": {"n": 2, "min": 0.0, "max": 1.0, "ids": ["a", "b"]},
             "val": {"n": 1, "min": 1.5, "max": 1.5, "ids": ["e"]},
             "test": {"n": 2, "min": 3.0, "max": 4.0, "ids": ["g", "h"]}}
    predictions = pd.DataFrame({"id": ["e", "g", "h"], "split": ["val", "test", "test"],
                                "y_true": [1.5, 3.0, 4.0], "y_pred": [1.0, 2.0, 3.5]})
    provenance = {"task": "toy_top", "backbone": "magpie_mlp", "method": "erm", "seed": 0, "epochs_run": 40,
                  "best_epoch": 39, "config": {"train": {"max_epochs": 40}}}
    metrics = run_metrics(predictions, split, provenance)
    assert (metrics["best_epoch"], metrics["epochs_run"], metrics["max_epochs"]) == (39, 40, 40)
