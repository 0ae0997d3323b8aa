"""Metrics against hand-computed values on tiny arrays, and the evaluate step (run_metrics / metrics.json)."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extrapbench.evaluation import runs as E
from extrapbench.evaluation import metrics as M

from conftest import FakeSnakemake

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


# ------------------------------------------------------------------------------------------------ point metrics

def test_mae_hand_computed():
    # errors 0.5, 0, 1, 1 -> 2.5 / 4
    assert M.mae([1, 2, 3, 4], [1.5, 2, 2, 5]) == pytest.approx(0.625)


def test_gm_hand_computed():
    # errors 1 and 4: geometric mean sqrt(1 * 4) = 2
    assert M.error_geometric_mean([0.0, 0.0], [1.0, -4.0]) == pytest.approx(2.0)


def test_gm_floors_an_exact_zero_error_at_1e_10():
    # errors 0.5, 0 (-> 1e-10), 1, 1: (0.5 * 1e-10 * 1 * 1) ** (1/4)
    value = M.error_geometric_mean([1, 2, 3, 4], [1.5, 2, 2, 5])
    assert value == pytest.approx((0.5 * 1e-10) ** 0.25, rel=1e-9)
    assert math.isfinite(value) and value > 0
    # all errors zero: GM is the floor itself
    assert M.error_geometric_mean([1.0, 2.0], [1.0, 2.0]) == pytest.approx(1e-10)


def test_spearman_hand_computed():
    # ranks of the predictions 1, 2, 4, 3: d^2 sums to 2, rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert M.spearman([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    assert M.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_equals_scipys_with_ties_and_outliers():
    """The ranks are pandas' (average for ties); scipy.stats.spearmanr is the reference."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    for _ in range(20):
        y_true = np.round(rng.normal(size=200), 1)            # many ties
        y_pred = np.round(y_true + rng.standard_cauchy(200), 1)
        assert M.spearman(y_true, y_pred) == pytest.approx(spearmanr(y_true, y_pred).statistic, abs=1e-12)


def test_spearman_is_nan_for_constant_predictions():
    assert math.isnan(M.spearman([1, 2, 3], [5, 5, 5]))
    assert math.isnan(M.spearman([1], [2]))


def test_r2_hand_computed():
    # SS_res = 1, SS_tot = (1-2)^2 + 0 + (3-2)^2 = 2 -> 1 - 1/2
    assert M.r2([1, 2, 3], [1, 2, 4]) == pytest.approx(0.5)
    assert M.r2([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    # predicting 3, 2, 1: SS_res = 8 -> 1 - 8/2 = -3 (R² can be negative)
    assert M.r2([1, 2, 3], [3, 2, 1]) == pytest.approx(-3.0)
    assert math.isnan(M.r2([2, 2, 2], [1, 2, 3]))


def test_metrics_reject_bad_input_and_give_nan_on_empty():
    with pytest.raises(ValueError):
        M.mae([1, 2], [1])
    with pytest.raises(ValueError):
        M.mae([1, 2], [1, np.nan])
    assert math.isnan(M.mae([], []))
    assert math.isnan(M.error_geometric_mean([], []))


# ------------------------------------------------------------------------------------------------ detection

def test_detection_top_side():
    # train range [0, 1]; extrapolative (y > 1): first three; detected (ŷ > 1): 1st, 3rd, 4th; TP = 2
    scores = M.detection_scores([1.5, 2.0, 1.2, 0.5], [1.1, 0.9, 1.3, 1.4], 0.0, 1.0, "top")
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert (scores["n_extrapolative"], scores["n_detected"], scores["n_true_positive"]) == (3, 3, 2)


def test_detection_bottom_side():
    # train range [0, 1]; extrapolative (y < 0): first three; detected (ŷ < 0): 1st and 4th; TP = 1
    scores = M.detection_scores([-1.0, -0.5, -0.2, 0.5], [-0.1, 0.3, 0.4, -0.2], 0.0, 1.0, "bottom")
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["precision"] == pytest.approx(1 / 2)
    # F1 = 2 * (1/2 * 1/3) / (1/2 + 1/3) = 2/5
    assert scores["f1"] == pytest.approx(0.4)


def test_detection_uses_strict_inequalities():
    # a prediction exactly at the train maximum is inside the train range: not detected
    scores = M.detection_scores([2.0, 3.0], [1.0, 1.0 + 1e-9], 0.0, 1.0, "top")
    assert scores["recall"] == pytest.approx(0.5)
    scores = M.detection_scores([-2.0], [0.0], 0.0, 1.0, "bottom")
    assert scores["recall"] == 0.0


def test_detection_nothing_predicted_beyond_range():
    # every prediction stays inside [0, 1]: precision defined as 0, recall 0, F1 0
    scores = M.detection_scores([2.0, 3.0], [0.5, 1.0], 0.0, 1.0, "top")
    assert scores == {"recall": 0.0, "precision": 0.0, "f1": 0.0,
                      "n_extrapolative": 2, "n_detected": 0, "n_true_positive": 0}


def test_detection_no_extrapolative_samples():
    # no true label beyond the range: recall (and F1) undefined -> NaN; the detections are all false
    scores = M.detection_scores([0.2, 0.8], [1.5, 0.5], 0.0, 1.0, "top")
    assert math.isnan(scores["recall"]) and math.isnan(scores["f1"])
    assert scores["precision"] == 0.0
    # and with nothing predicted either
    scores = M.detection_scores([0.2, 0.8], [0.3, 0.5], 0.0, 1.0, "bottom")
    assert math.isnan(scores["recall"]) and scores["precision"] == 0.0


def test_detection_perfect_and_bad_side():
    scores = M.detection_scores([-1.0, -2.0], [-0.5, -3.0], 0.0, 1.0, "bottom")
    assert scores["recall"] == scores["precision"] == scores["f1"] == 1.0
    with pytest.raises(ValueError):
        M.detection_scores([1.0], [1.0], 0.0, 1.0, "left")


# ------------------------------------------------------------------------------------------------ run_metrics

def _split_summary():
    # a "top" task: train [0, 1], val (1, 2], test (2, 4]
    return {
        "task": "toy_top", "dataset": "toy", "side": "top", "target": "y", "transform": "none",
        "n_total": 8, "tie_rule": "whole ties stay in the inner split",
        "train": {"n": 4, "min": 0.0, "max": 1.0, "ids": ["a", "b", "c", "d"]},
        "val": {"n": 2, "min": 1.5, "max": 2.0, "ids": ["e", "f"]},
        "test": {"n": 2, "min": 3.0, "max": 4.0, "ids": ["g", "h"]},
    }


def _predictions():
    return pd.DataFrame({
        "id": ["e", "f", "g", "h"],
        "split": ["val", "val", "test", "test"],
        "y_true": [1.5, 2.0, 3.0, 4.0],
        "y_pred": [1.0, 2.5, 2.0, 3.5],
    })


def _provenance():
    return {"task": "toy_top", "backbone": "magpie_mlp", "method": "erm", "seed": 1, "epochs_run": 40,
            "best_epoch": 10, "wall_time_s": 12.5, "inference_seconds_per_sample": 0.002, "n_test": 2,
            "config": {"lr": 1e-3}}


def test_run_metrics_hand_computed():
    result = E.run_metrics(_predictions(), _split_summary(), _provenance())
    assert (result["task"], result["backbone"], result["method"], result["seed"]) == ("toy_top", "magpie_mlp",
                                                                                      "erm", 1)
    # test errors 1.0, 0.5
    assert result["mae"] == pytest.approx(0.75)
    assert result["gm"] == pytest.approx(math.sqrt(0.5))
    assert result["spearman"] == pytest.approx(1.0)
    # test y = 3, 4 (mean 3.5, SS_tot 0.5), SS_res = 1 + 0.25 -> 1 - 2.5
    assert result["r2"] == pytest.approx(-1.5)
    assert result["val_mae"] == pytest.approx(0.5)
    # val ∪ test all extrapolative (4); detected ŷ > 1: 2.5, 2.0, 3.5 (1.0 is not) -> recall 3/4
    assert result["detect_recall"] == pytest.approx(0.75)
    # no train predictions: precision (and F1) would be 1 by construction on val ∪ test, so they are left out
    assert result["detect_precision"] is None and result["detect_f1"] is None
    assert result["n_train_predicted"] == 0 and result["n_false_positive_train"] is None
    assert result["seconds_per_sample"] == pytest.approx(0.002)
    assert result["n_test"] == 2
    json.dumps(result, allow_nan=False)  # JSON-ready


def _train_predictions():
    # train labels in [0, 1]; b is predicted beyond the train maximum: an in-range false positive
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "split": ["train"] * 4,
                         "y_true": [0.0, 0.5, 0.8, 1.0], "y_pred": [0.3, 1.2, 0.9, 0.95]})


def test_detection_precision_counts_train_samples_predicted_beyond_the_range():
    predictions = pd.concat([_train_predictions(), _predictions()], ignore_index=True)
    result = E.run_metrics(predictions, _split_summary(), _provenance())
    # detected (ŷ > 1): b (train, false positive), f, g, h (val/test, true positives); e (ŷ = 1.0) is not
    # precision = 3 / 4, recall = 3 / 4 (val ∪ test only, unchanged), F1 = 2·(3/4)(3/4) / (3/2) = 3/4
    assert result["detect_precision"] == pytest.approx(0.75) and result["detect_precision"] < 1
    assert result["detect_recall"] == pytest.approx(0.75)
    assert result["detect_f1"] == pytest.approx(0.75)
    assert result["n_false_positive_train"] == 1 and result["n_train_predicted"] == 4
    # the test metrics ignore the train rows
    assert result["mae"] == pytest.approx(0.75) and result["val_mae"] == pytest.approx(0.5)
    # a bottom task: train [0, 1], held-out below; a train sample predicted below 0 is the false positive
    bottom = {**_split_summary(), "side": "bottom",
              "val": {"n": 1, "min": -1.0, "max": -1.0, "ids": ["e"]},
              "test": {"n": 1, "min": -2.0, "max": -2.0, "ids": ["g"]}}
    rows = pd.DataFrame({"id": ["a", "b", "c", "d", "e", "g"], "split": ["train"] * 4 + ["val", "test"],
                         "y_true": [0.0, 0.5, 0.8, 1.0, -1.0, -2.0], "y_pred": [-0.1, -0.2, 0.5, 0.9, -0.5, 0.1]})
    result = E.run_metrics(rows, bottom, _provenance())
    # detected (ŷ < 0): a, b (false positives), e (true positive); g (ŷ = 0.1) missed: P = 1/3, R = 1/2, F1 = 0.4
    assert result["detect_precision"] == pytest.approx(1 / 3)
    assert result["detect_recall"] == pytest.approx(0.5)
    assert result["detect_f1"] == pytest.approx(0.4)


def test_train_predictions_must_match_the_split():
    predictions = pd.concat([_train_predictions().iloc[:3], _predictions()], ignore_index=True)
    with pytest.raises(ValueError, match="train predictions do not match"):
        E.run_metrics(predictions, _split_summary(), _provenance())


def test_run_metrics_rejects_predictions_that_do_not_match_the_split():
    predictions = _predictions()
    predictions.loc[3, "id"] = "zzz"
    with pytest.raises(ValueError, match="test predictions do not match"):
        E.run_metrics(predictions, _split_summary(), _provenance())
    predictions = _predictions()
    predictions.loc[0, "y_pred"] = np.nan  # inside the file: a broken run (a NaN last row reads as truncated)
    with pytest.raises(ValueError, match="finite"):
        E.run_metrics(predictions, _split_summary(), _provenance())


def _write_run(tmp_path):
    run_dir = tmp_path / "results/runs/toy_top/magpie_mlp/erm/seed1"
    run_dir.mkdir(parents=True)
    _predictions().to_csv(run_dir / "predictions.csv", index=False)
    (run_dir / "provenance.json").write_text(json.dumps(_provenance()))
    split_path = tmp_path / "toy_top.json"
    split_path.write_text(json.dumps(_split_summary()))
    return run_dir, split_path


def test_evaluate_run_writes_metrics_json(tmp_path):
    run_dir, split_path = _write_run(tmp_path)
    metrics_path = run_dir / "metrics.json"
    returned = E.evaluate_run(run_dir / "predictions.csv", split_path, run_dir / "provenance.json", metrics_path)
    assert json.loads(metrics_path.read_text()) == returned
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json", "predictions.csv", "provenance.json"]


def test_evaluate_run_leaves_no_file_when_it_fails(tmp_path):
    run_dir, split_path = _write_run(tmp_path)
    predictions = _predictions().iloc[:3]  # a test row is missing
    predictions.to_csv(run_dir / "predictions.csv", index=False)
    with pytest.raises(ValueError, match="removed .* so that a rerun retrains the run"):
        E.evaluate_run(run_dir / "predictions.csv", split_path, run_dir / "provenance.json",
                       run_dir / "metrics.json")
    # no metrics.json, and the run's bad outputs are gone: a plain rerun retrains it
    assert sorted(p.name for p in run_dir.iterdir()) == []


def test_write_json_atomic_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "out.json"
    E.write_json_atomic({"a": 1}, path)
    with pytest.raises(TypeError):
        E.write_json_atomic({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_evaluate_runs_script_writes_each_seeds_metrics_from_its_own_predictions(tmp_path):
    """One job evaluates every seed of a method: seed i's metrics.json comes from seed i's predictions."""
    run_dir, split_path = _write_run(tmp_path)
    other = run_dir.parent / "seed2"
    other.mkdir()
    shifted = _predictions()
    shifted["y_pred"] = shifted["y_pred"] + 0.5
    shifted.to_csv(other / "predictions.csv", index=False)
    (other / "provenance.json").write_text((run_dir / "provenance.json").read_text())
    smk = FakeSnakemake(input={"predictions": [str(run_dir / "predictions.csv"), str(other / "predictions.csv")],
                               "split": str(split_path),
                               "provenance": [str(run_dir / "provenance.json"), str(other / "provenance.json")]},
                        output={"metrics": [str(run_dir / "metrics.json"), str(other / "metrics.json")]},
                        log=tmp_path / "evaluate.log")
    runpy.run_path(str(SCRIPTS / "evaluate_runs.py"), init_globals={"snakemake": smk})
    first = json.loads((run_dir / "metrics.json").read_text())
    second = json.loads((other / "metrics.json").read_text())
    assert first["mae"] == pytest.approx(0.75)
    test = shifted[shifted["split"] == "test"]
    assert second["mae"] == pytest.approx((test["y_true"] - test["y_pred"]).abs().mean())
    assert second["mae"] != pytest.approx(first["mae"])
    assert "test MAE" in (tmp_path / "evaluate.log").read_text()
