"""Model selection (docs/benchmark.md): grid enumeration, routing of grid keys, and choice by val MAE only."""
from __future__ import annotations

import pandas as pd
import pytest

from extrapbench.config.entries import ConfigError
from extrapbench.config.validate import validate_config
from extrapbench.config.selection import apply_point, grid_points, point_id, select, val_mae

from conftest import REPO


def test_grid_is_the_full_product_in_a_fixed_order():
    points = grid_points({"learning_rate": [1e-4, 1e-3], "batch_size": [32, 64]}, {"lambda_abs": [0.25, 1.0]})
    assert len(points) == 8
    assert points[0] == {"batch_size": 32, "lambda_abs": 0.25, "learning_rate": 1e-4}
    assert points[-1] == {"batch_size": 64, "lambda_abs": 1.0, "learning_rate": 1e-3}
    assert len({tuple(sorted(p.items())) for p in points}) == 8
    assert grid_points(None, None) == [{}]
    assert point_id(7) == "p007"


def test_grid_keys_go_to_training_settings_or_method_hyper_parameters():
    train, method = apply_point({"learning_rate": 1e-3, "max_epochs": 5}, {"lambda_abs": 0.5, "score": "mlp"},
                                {"learning_rate": 1e-4, "weight_decay": 1e-3, "lambda_abs": 0.25})
    assert train == {"learning_rate": 1e-4, "max_epochs": 5, "weight_decay": 1e-3}
    assert method == {"lambda_abs": 0.25, "score": "mlp"}


def _predictions(path, val_error, test_error):
    rows = [("a", "val", 1.0, 1.0 + val_error), ("b", "val", 2.0, 2.0 - val_error),
            ("c", "test", 3.0, 3.0 + test_error)]
    pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred"]).to_csv(path, index=False)
    return path


def test_selection_picks_the_lowest_val_mae_and_never_reads_test(tmp_path):
    # point 1 has the best val MAE but the worst test MAE; point 2 the best test MAE
    files = [_predictions(tmp_path / f"p{i}.csv", v, t) for i, (v, t) in enumerate([(0.3, 0.1), (0.1, 0.9),
                                                                                    (0.2, 0.0)])]
    maes = [val_mae(f) for f in files]
    assert maes == pytest.approx([0.3, 0.1, 0.2])
    assert select([{}, {}, {}], maes) == 1
    # changing test predictions changes nothing
    _predictions(files[1], 0.1, 50.0)
    assert val_mae(files[1]) == pytest.approx(0.1)
    assert select([{}, {}], [0.2, 0.2]) == 0  # ties: the earlier grid point


def test_grid_keys_are_validated(tmp_path):
    import yaml

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["selection"]["methods"]["mex"]["lamda"] = [1, 2]
    config["selection"]["grid"] = {"batch_size": [32], "bin_width": [0.1]}
    with pytest.raises(ConfigError) as info:
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml", "demo")
    message = str(info.value)
    assert "'lamda' is neither a training setting nor a hyper-parameter of mex" in message
    assert "'bin_width' is not a training setting nor a hyper-parameter of" in message


def test_selection_reads_only_val_rows_of_grid_predictions(tmp_path):
    """Test rows never change the choice: a grid job's predictions with absurd test rows select the same point."""
    import pandas as pd

    from extrapbench.config.selection import val_maes

    rows = []
    for point, val_error, test_error in (("p000", 0.5, 0.0), ("p001", 0.1, 100.0)):
        rows += [("a", "val", 1.0, 1.0 + val_error, point), ("b", "test", 2.0, 2.0 + test_error, point)]
    path = tmp_path / "predictions.csv"
    pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred", "point"]).to_csv(path, index=False)
    assert val_maes([path]) == pytest.approx({"p000": 0.5, "p001": 0.1})


def test_the_selection_job_refuses_grid_predictions_of_another_split_before_choosing(tmp_path, monkeypatch):
    """A grid point whose rows are not the split's val / test ids (a stale file from another split) must not choose
    the hyper-parameters: the job fails naming the file and the point, and writes no selected.json."""
    import json
    import runpy
    import sys

    from conftest import FakeSnakemake

    for name in ("stdout", "stderr", "excepthook"):  # the script sends them to its log: put them back afterwards
        monkeypatch.setattr(sys, name, getattr(sys, name))

    from extrapbench.evaluation.runs import BadRunFilesError

    split = {"task": "t", "side": "top", "train": {"n": 1, "min": 0.0, "max": 0.5, "ids": ["z"]},
             "val": {"n": 2, "min": 1.0, "max": 2.0, "ids": ["a", "b"]},
             "test": {"n": 1, "min": 3.0, "max": 3.0, "ids": ["c"]}}
    (tmp_path / "split.json").write_text(json.dumps(split))
    paths = []
    for point, val_id in (("p000", "a"), ("p001", "x")):   # p001 predicts an id the split does not have
        rows = [(val_id, "val", 1.0, 1.1, point), ("b", "val", 2.0, 2.1, point), ("c", "test", 3.0, 2.9, point)]
        path = tmp_path / f"{point}.csv"
        pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred", "point"]).to_csv(path, index=False)
        paths.append(str(path))
    run = {"task": "t", "backbone": "b", "method": "mex", "seed": 0}
    (tmp_path / "provenance.json").write_text(json.dumps({"points": {"p000": run, "p001": run}}))
    smk = FakeSnakemake(input={"predictions": paths, "split": str(tmp_path / "split.json"),
                               "provenance": [str(tmp_path / "provenance.json")]},
                        output={"selected": str(tmp_path / "selected.json"),
                                "grid_metrics": str(tmp_path / "grid_metrics.json")},
                        log=tmp_path / "select.log", params={"points": [{"lambda_abs": 0.25}, {"lambda_abs": 1.0}],
                                                             "seed": 0},
                        wildcards={"task": "t", "backbone": "b", "method": "mex"})
    with pytest.raises(BadRunFilesError, match=r"p001\.csv \(grid point p001\)"):
        runpy.run_path(str(REPO / "scripts" / "select_hyperparameters.py"), init_globals={"snakemake": smk})
    assert not (tmp_path / "selected.json").exists()
