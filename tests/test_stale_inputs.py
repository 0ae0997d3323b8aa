""""nothing wrong may look complete": a replaced dataset file, a truncated predictions.csv, a diverged run
and a truncated model.pt each reach the user as what they are, never as a finished-looking result.

The workflow tests run one tiny Snakemake workflow (phonons_top, ERM on a small Magpie MLP, 2 epochs, one seed, the
edge reference) once, and each scenario works on its own copy of the finished directory."""
from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

DATASET_FILE = "matbench_phonons.json.gz"
RUN = "results/runs/phonons_top/magpie_mlp/erm/seed0"
PARITY = "results/figures/fig4_parity_phonons_top.png"


def tiny_config() -> dict:
    return {
        "data_home": "data_home",  # relative to the workflow directory: a copy of the directory reads its own
        "tasks": ["phonons_top"],
        "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
        "methods": {"erm": {}},
        "seeds": [0],
        "train": {"max_epochs": 2, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
        "references": {"edge_train": {}},
        "in_distribution": None,
        "resources": {"train_threads": 1},
    }


def snakemake(workdir, *args):
    # no "code" trigger: an edit of a rule's script while the tests run must not look like one of the faults here
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-s",
                           str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
                           "--rerun-triggers", "mtime", "params", "input", *args,
                           "--configfile", str(workdir / "config.yaml")],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny workflow whose data_home is its own copy of the shipped data."""
    workdir = tmp_path_factory.mktemp("stale_inputs")
    shutil.copytree(SHIPPED_DATA_HOME, workdir / "data_home")
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture
def copy_of(finished, tmp_path):
    """The finished workflow, copied with its mtimes and Snakemake's records (its config reads its own
    data_home): a file rewritten in the copy is newer than every output, as after an edit or a partial rewrite."""
    workdir = tmp_path / "work"
    shutil.copytree(finished, workdir, symlinks=True)
    assert "Nothing to be done" in (dry := snakemake(workdir, "-n")).stdout + dry.stderr, dry.stdout[-3000:]
    return workdir


# --- 1. a dataset file replaced in data_home rebuilds the table and everything downstream -----------------------

def test_a_replaced_dataset_file_rebuilds_the_split(copy_of):
    split = json.loads((copy_of / "results/splits/phonons_top.json").read_text())
    assert split["n_total"] == 1265
    source = copy_of / "data_home" / DATASET_FILE
    with gzip.open(source, "rt") as handle:
        data = json.load(handle)
    data = {**data, "index": data["index"][:300], "data": data["data"][:300]}  # the same format, 300 rows
    with gzip.open(source, "wt") as handle:
        json.dump(data, handle)
    os.utime(source, (time.time() - 10**6,) * 2)  # even an older file: its content, not its mtime, decides

    rerun = snakemake(copy_of)
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert "download_dataset" in rerun.stderr
    split = json.loads((copy_of / "results/splits/phonons_top.json").read_text())
    assert split["n_total"] == 300
    assert "300" in (copy_of / "results/tables/table1_splits.md").read_text()
    predictions = pd.read_csv(copy_of / RUN / "predictions.csv")
    assert len(predictions) == 300  # retrained on the new rows (train + val + test predictions)


def test_the_digest_of_a_missing_matminer_file_is_the_one_matminer_checks_its_download_against(tmp_path):
    """Before the first download the param stands for matminer's digest of the file it will fetch, so the
    download itself does not change the param and rebuild everything once more."""
    from matminer.datasets.utils import _load_dataset_dict

    from extrapbench.data.datasets import dataset_source_digest

    missing = dataset_source_digest("matbench_phonons", tmp_path, tmp_path)
    assert missing == f"{DATASET_FILE}:{_load_dataset_dict()['matbench_phonons']['hash']}"
    assert dataset_source_digest("matbench_phonons", SHIPPED_DATA_HOME, tmp_path) != missing


# --- 2. a truncated predictions.csv: no figure drawn from it, and a plain rerun retrains the run -----------------

def test_truncated_predictions_fail_every_reader_and_a_plain_rerun_retrains(copy_of):
    predictions = copy_of / RUN / "predictions.csv"
    lines = predictions.read_text().splitlines(keepends=True)
    predictions.write_text("".join(lines[: len(lines) // 2]))  # cut at a line end: half the rows are gone

    broken = snakemake(copy_of, "--keep-going")
    assert broken.returncode != 0
    # the parity rule failed instead of drawing a wrong MAE: on the truncated file (its log names it, see
    # test_the_parity_figure_refuses_truncated_predictions) or, when the evaluation has removed it first, on the
    # missing input
    assert not (copy_of / PARITY).exists()
    assert "Error in rule plot_parity" in broken.stderr, broken.stderr[-5000:]
    evaluate_log = (copy_of / "results/logs/evaluate/phonons_top/magpie_mlp/erm.log").read_text()
    assert (f"{RUN}/predictions.csv: test predictions do not match the split: 190 ids missing" in evaluate_log
            ), evaluate_log[-3000:]
    assert "so that a rerun retrains the run" in evaluate_log
    assert not predictions.exists() and not (copy_of / RUN / "provenance.json").exists()

    fixed = snakemake(copy_of)
    assert fixed.returncode == 0, fixed.stderr[-5000:]
    assert "train" in fixed.stderr and (copy_of / PARITY).exists()
    assert len(pd.read_csv(predictions)) > len(lines) - 1 - 1  # whole again
    assert "Nothing to be done" in (again := snakemake(copy_of, "-n")).stdout + again.stderr


def test_the_parity_figure_refuses_truncated_predictions(finished, tmp_path):
    from extrapbench.report.figures import plot_parity

    run = tmp_path / RUN
    run.mkdir(parents=True)
    lines = (finished / RUN / "predictions.csv").read_text().splitlines(keepends=True)
    (run / "predictions.csv").write_text("".join(lines[:-20]))
    with pytest.raises(ValueError, match=r"seed0/predictions.csv: test predictions do not match the split: 20 ids "
                                         r"missing"):
        plot_parity([run / "predictions.csv"], finished / "results/splits/phonons_top.json", tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


def split_summary(n=4):
    ids = [f"m{i}" for i in range(3 * n)]
    return {"task": "t", "side": "top",
            "train": {"n": n, "min": 0.0, "max": 1.0, "ids": ids[:n]},
            "val": {"n": n, "min": 1.1, "max": 1.5, "ids": ids[n:2 * n]},
            "test": {"n": n, "min": 1.6, "max": 2.0, "ids": ids[2 * n:]}}


def predictions_frame(summary, offset=0.1):
    rows = []
    for part, labels in (("val", np.linspace(1.1, 1.5, 4)), ("test", np.linspace(1.6, 2.0, 4))):
        rows += [{"id": i, "split": part, "y_true": y, "y_pred": y - offset}
                 for i, y in zip(summary[part]["ids"], labels)]
    return pd.DataFrame(rows)


def test_check_predictions_names_the_file():
    from extrapbench.evaluation.runs import BadRunFilesError, check_predictions

    summary = split_summary()
    frame = predictions_frame(summary)
    check_predictions(frame, summary, "x/predictions.csv")
    with pytest.raises(BadRunFilesError, match=r"x/predictions.csv: test predictions do not match the split: "
                                               r"1 ids missing"):
        check_predictions(frame.iloc[:-1], summary, "x/predictions.csv")
    half_row = frame.copy()
    half_row.loc[half_row.index[-1], "y_pred"] = np.nan  # the last line cut in the middle
    with pytest.raises(BadRunFilesError, match="truncated"):
        check_predictions(half_row, summary, "x/predictions.csv")
    nan_inside = frame.copy()
    nan_inside.loc[0, "y_pred"] = np.nan  # a NaN the run predicted: retraining would not help, not removed
    with pytest.raises(ValueError, match="broken run") as info:
        check_predictions(nan_inside, summary, "x/predictions.csv")
    assert not isinstance(info.value, BadRunFilesError)


# --- 3. a diverged run is flagged, warned about and never bold -------------------------------------------------

def test_a_run_with_a_huge_val_mae_is_flagged_diverged():
    from extrapbench.evaluation.runs import run_metrics

    summary = split_summary()
    fine = run_metrics(predictions_frame(summary), summary, {"task": "t", "seed": 0})
    assert fine["diverged"] is False and fine["diverged_reason"] is None
    exploded = predictions_frame(summary)
    exploded.loc[exploded["split"] == "val", "y_pred"] = 1e8
    flagged = run_metrics(exploded, summary, {"task": "t", "seed": 0})
    assert flagged["diverged"] is True and "val MAE" in flagged["diverged_reason"]
    history = pd.DataFrame({"epoch": [0, 1], "train_loss": [1e16, 0.5]})
    by_loss = run_metrics(predictions_frame(summary), summary, {"task": "t", "seed": 0}, history)
    assert by_loss["diverged"] is True and "epoch 0" in by_loss["diverged_reason"]


def test_evaluation_warns_about_a_diverged_run(tmp_path, caplog):
    from extrapbench.evaluation.runs import evaluate_runs

    summary = split_summary()
    (tmp_path / "split.json").write_text(json.dumps(summary))
    predictions_frame(summary).to_csv(tmp_path / "predictions.csv", index=False)
    (tmp_path / "provenance.json").write_text(json.dumps({"task": "t", "backbone": "b", "method": "m", "seed": 0}))
    pd.DataFrame({"epoch": [0, 1], "train_loss": [1e16, 0.5]}).to_csv(tmp_path / "history.csv", index=False)
    with caplog.at_level("WARNING"):
        [metrics] = evaluate_runs([tmp_path / "predictions.csv"], tmp_path / "split.json",
                                  [tmp_path / "provenance.json"], [tmp_path / "metrics.json"],
                                  history_paths=[tmp_path / "history.csv"])
    assert metrics["diverged"] and json.loads((tmp_path / "metrics.json").read_text())["diverged"] is True
    assert "t/b/m/seed0 DIVERGED: train loss 1e+16 at epoch 0" in caplog.text


def test_a_diverged_row_is_never_bold_even_with_the_lowest_mean():
    from extrapbench.report.summary import collect, summarize
    from extrapbench.report.tables import paper_table

    records = []
    for method, mae_value, diverged in (("erm", 0.50, False), ("ranksim", 0.30, True), ("mex", 0.70, False)):
        for seed in (0, 1):
            records.append({"task": "phonons_top", "backbone": "magpie_mlp", "method": method, "seed": seed,
                            "mae": mae_value + 0.001 * seed, "diverged": diverged and seed == 1})
    summary = summarize(collect(records))
    assert dict(zip(summary["method"], summary["n_diverged"])) == {"erm": 0, "ranksim": 1, "mex": 0}
    table = paper_table(summary, "mae")
    markdown = table.to_markdown()
    ranksim = next(line for line in markdown.splitlines() if "| RankSim |" in line)
    assert "0.300(0.001) ‼" in ranksim and "**" not in ranksim
    assert "**0.500(0.001)**" in markdown  # the best of the rest is bold
    assert "‼: at least one seed diverged" in markdown and "excluded from bold" in markdown
    assert "$^{!!}$" in table.to_latex() and "\\textbf{0.300" not in table.to_latex()
    assert table.to_frame().set_index("method").loc["ranksim", "phonons_top_n_diverged"] == 1


# --- 4. a truncated model.pt: evaluation refuses it and a plain rerun retrains --------------------------------------

def test_check_checkpoint_refuses_a_truncated_archive(tmp_path):
    import torch

    from extrapbench.evaluation.runs import BadRunFilesError, check_checkpoint

    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    check_checkpoint(path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(BadRunFilesError, match="model.pt: not a complete checkpoint"):
            check_checkpoint(path)


def test_a_truncated_checkpoint_is_removed_with_its_run_and_a_plain_rerun_retrains(copy_of):
    checkpoint = copy_of / RUN / "model.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])

    broken = snakemake(copy_of)
    assert broken.returncode != 0
    evaluate_log = (copy_of / "results/logs/evaluate/phonons_top/magpie_mlp/erm.log").read_text()
    assert f"{RUN}/model.pt: not a complete checkpoint" in evaluate_log, evaluate_log[-3000:]
    assert "so that a rerun retrains the run" in evaluate_log
    assert not (copy_of / RUN / "predictions.csv").exists()

    fixed = snakemake(copy_of)
    assert fixed.returncode == 0, fixed.stderr[-5000:]
    import torch

    torch.load(checkpoint, weights_only=True)
    assert math.isfinite(json.loads((copy_of / RUN / "metrics.json").read_text())["mae"])


def test_a_run_that_predicted_train_rows_but_lost_them_is_refused_and_removed(tmp_path):
    """check_predictions accepts a file without train rows (selection runs write none); the provenance's
    predicted_parts says a final run wrote them, so evaluation refuses the file and removes the run's outputs."""
    from extrapbench.evaluation.runs import BadRunFilesError, evaluate_runs

    summary = split_summary()
    (tmp_path / "split.json").write_text(json.dumps(summary))
    train = pd.DataFrame({"id": summary["train"]["ids"], "split": "train", "y_true": np.linspace(0, 1, 4),
                          "y_pred": np.linspace(0, 1, 4)})
    frame = pd.concat([train, predictions_frame(summary)], ignore_index=True)
    provenance = {"task": "t", "backbone": "b", "method": "m", "seed": 0, "predicted_parts": ["train", "val", "test"]}
    args = ([tmp_path / "predictions.csv"], tmp_path / "split.json", [tmp_path / "provenance.json"],
            [tmp_path / "metrics.json"])
    (tmp_path / "provenance.json").write_text(json.dumps(provenance))
    frame.to_csv(tmp_path / "predictions.csv", index=False)
    assert (frame["split"] == "train").any()
    [metrics] = evaluate_runs(*args)  # complete: evaluated
    assert metrics["detect_precision"] is not None

    frame[frame["split"] != "train"].to_csv(tmp_path / "predictions.csv", index=False)
    with pytest.raises(BadRunFilesError, match=r"no train rows, but .*provenance.json says the run predicted them"):
        evaluate_runs(*args)
    assert not (tmp_path / "predictions.csv").exists() and not (tmp_path / "provenance.json").exists()
