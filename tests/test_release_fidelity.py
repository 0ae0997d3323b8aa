"""Fidelity details found by comparing against the MEX authors' released code (docs/benchmark.md, the release differences):
RankSim's normalisation with tied labels, the release's detection recall, and GM's treatment of zero errors."""
from __future__ import annotations

import json
import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch_geometric.data import Batch, Data

from extrapbench.evaluation import runs as E
from extrapbench.evaluation import metrics as M
from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.base import LabelContext
from extrapbench.registry import METHODS
from extrapbench.report.summary import collect, summarize
from extrapbench.report.detection_table import detection_table

from conftest import REPO, FakeSnakemake

SCRIPTS = REPO / "scripts"


# --- RankSim: tied labels, / the de-duplicated size (unique) or / the full batch (batch, the release) ------------

def _tied_batch():
    """Six samples with labels 2, 0, 2, 1, 0, 2 (B = 6, U = 3 distinct); the samples of one label share their
    feature vector, so whichever representative the sub-batch draws, it holds the features a (label 0, angle 0°),
    b (label 1, 90°), c (label 2, 30°).

    Hand computation on the sub-batch (labels 0, 1, 2), ascending ranks / 3, ties broken by index:
      label ranks     row 0: [3, 2, 1]   row 1: [1, 3, 2]   row 2: [1, 2, 3]
      cosines         row a: [1, 0, .87]  row b: [0, 1, .5]  row c: [.87, .5, 1]
      feature ranks   row a: [3, 1, 2]   row b: [1, 3, 2]   row c: [2, 1, 3]
    squared differences (in ninths): 0 + 1 + 1, 0, 1 + 1 + 0: sum 4/9."""
    a, b, c = [1.0, 0.0], [0.0, 1.0], [math.cos(math.pi / 6), math.sin(math.pi / 6)]
    features = {0.0: a, 1.0: b, 2.0: c}
    y = torch.tensor([2.0, 0.0, 2.0, 1.0, 0.0, 2.0])
    z = torch.tensor([features[float(v)] for v in y])
    return z, y


def test_ranksim_tie_normalisation_unique_and_batch_match_the_hand_computed_values():
    from extrapbench.methods.ranksim import ranksim_loss

    z, y = _tied_batch()
    squared_sum = 4.0 / 9.0
    unique = ranksim_loss(z, y, lam=2.0, tie_normalisation="unique")
    batch = ranksim_loss(z, y, lam=2.0, tie_normalisation="batch")
    assert unique.item() == pytest.approx(squared_sum / 3)      # / U: the sum of per-row means (the default)
    assert batch.item() == pytest.approx(squared_sum / 6)       # / B: the release's RankSimLoss + DDPLoss
    assert unique.item() / batch.item() == pytest.approx(6 / 3)  # they differ by batch / unique
    assert ranksim_loss(z, y, lam=2.0).item() == pytest.approx(unique.item())
    # no sub-batch (unique_labels false): U = B and the two agree
    assert ranksim_loss(z, y, 2.0, unique_labels=False, tie_normalisation="batch").item() == pytest.approx(
        ranksim_loss(z, y, 2.0, unique_labels=False, tie_normalisation="unique").item())
    with pytest.raises(ValueError, match="tie_normalisation"):
        ranksim_loss(z, y, lam=2.0, tie_normalisation="full")


def test_ranksim_tie_normalisation_is_a_declared_hparam_that_reaches_the_training_loss():
    from extrapbench.hparams import check_value

    cls = METHODS.get("ranksim")
    assert cls.defaults["tie_normalisation"] == "unique"
    assert check_value(cls, "tie_normalisation", "batch") is None
    assert check_value(cls, "tie_normalisation", "full") is not None

    labels = LabelContext(train_min=0.0, train_max=3.0, side="top", dataset_min=0.0, dataset_max=4.0,
                          mean=0.0, std=1.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 6, generator=g)
    y = torch.tensor([0.0, 1.0, 1.0, 2.0] * 4)                            # B = 16, U = 3
    batch = Batch.from_data_list([Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(16)])
    logs = {}
    for mode in ("unique", "batch"):
        torch.manual_seed(0)
        method = cls(MagpieMLP(in_dim=6, hidden_dim=16, out_dim=8), labels, gamma=1.0, tie_normalisation=mode)
        torch.manual_seed(1)                                               # the same representatives for both
        _, logs[mode] = method.training_loss(batch)
    assert logs["unique"]["loss_ranksim"] > 0
    assert logs["batch"]["loss_ranksim"] == pytest.approx(logs["unique"]["loss_ranksim"] * 3 / 16, rel=1e-5)
    with pytest.raises(ValueError, match="tie_normalisation"):
        cls(MagpieMLP(in_dim=6, hidden_dim=16, out_dim=8), labels, tie_normalisation="full")


def test_configs_set_ranksim_tie_normalisation():
    authors = yaml.safe_load((REPO / "config" / "authors.yaml").read_text())
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert authors["methods"]["ranksim"]["tie_normalisation"] == "batch"
    assert default["methods"]["ranksim"]["tie_normalisation"] == "unique"


# --- detection recall as the release computes it ---------------------------------------------------------------

def test_release_detection_recall_hand_computed():
    # top: held-out labels 1.5, 2, 3, 4 (smallest 1.5); predictions above 1.5: 1.6 and 5 -> 2/4
    assert M.release_detection_recall([1.5, 2.0, 3.0, 4.0], [1.6, 1.4, 1.2, 5.0], "top") == pytest.approx(0.5)
    # bottom: largest held-out label -0.5; predictions below it: -0.7 and -0.6 (strictly; -0.5 is not) -> 2/5
    assert M.release_detection_recall([-1.0, -0.5, -2.0, -3.0, -1.0], [-0.7, -0.2, -0.6, 0.3, -0.5],
                                      "bottom") == pytest.approx(0.4)
    assert math.isnan(M.release_detection_recall([], [], "top"))
    with pytest.raises(ValueError, match="side"):
        M.release_detection_recall([1.0], [1.0], "left")


def _bottom_split():
    return {"task": "toy_bottom", "side": "bottom",
            "train": {"n": 4, "min": 0.0, "max": 1.0, "ids": ["a", "b", "c", "d"]},
            "val": {"n": 2, "min": -1.0, "max": -0.5, "ids": ["e", "f"]},
            "test": {"n": 2, "min": -3.0, "max": -2.0, "ids": ["g", "h"]}}


def _bottom_predictions():
    return pd.DataFrame({"id": ["e", "f", "g", "h"], "split": ["val", "val", "test", "test"],
                         "y_true": [-1.0, -0.5, -2.0, -3.0], "y_pred": [-0.7, -0.2, -0.6, 0.3]})


def test_run_metrics_writes_the_release_recall_next_to_ours():
    provenance = {"task": "toy_bottom", "backbone": "magpie_mlp", "method": "erm", "seed": 0}
    result = E.run_metrics(_bottom_predictions(), _bottom_split(), provenance)
    # ours: predicted below the train minimum 0: -0.7, -0.2, -0.6 -> 3/4
    assert result["detect_recall"] == pytest.approx(0.75)
    # the release's: predicted below the largest held-out label -0.5: -0.7, -0.6 -> 2/4
    assert result["detect_recall_release"] == pytest.approx(0.5)
    assert "detect_recall_release" in M.METRIC_KEYS
    json.dumps(result, allow_nan=False)
    # a split without a side: null, like our recall
    other = {**_bottom_split(), "side": None}
    result = E.run_metrics(_bottom_predictions(), other, provenance)
    assert result["detect_recall_release"] is None and result["detect_recall"] is None


def _runs(with_release=True):
    records = []
    for method, recall in (("erm", 0.4), ("mex", 0.8)):
        for seed in range(3):
            for task in ("phonons_bottom", "phonons_top"):
                record = {"task": task, "backbone": "painn", "method": method, "seed": seed, "n_test": 10,
                          "mae": 0.3, "detect_recall": recall}
                if with_release:
                    record["detect_recall_release"] = recall - 0.1 + 0.1 * seed
                records.append(record)
    return records


def test_summary_averages_the_release_recall_over_seeds():
    summary = summarize(collect(_runs()))
    row = summary[(summary["task"] == "phonons_top") & (summary["method"] == "mex")].iloc[0]
    assert row["detect_recall_release_mean"] == pytest.approx(0.8)     # 0.7, 0.8, 0.9
    assert row["detect_recall_release_std"] == pytest.approx(0.1)


def test_detection_table_shows_the_release_recall_only_when_asked():
    summary = summarize(collect(_runs()))
    plain = detection_table(summary)
    assert not any("MEX release" in column for column in plain.header)
    table = detection_table(summary, release_recall=True)
    assert table.header[2:4] == ["phonons_bottom: recall", "phonons_bottom: recall (MEX release)"]
    assert any("release recall (the MEX authors' code)" in note for note in table.notes)
    mex = table.frame.set_index("method").loc["mex"]
    assert mex["phonons_top_detect_recall_release_mean"] == pytest.approx(0.8)
    assert mex["phonons_top_detect_recall_mean"] == pytest.approx(0.8)
    # asked for, but the runs' metrics.json predate the key: an error that says so, not a silent omission
    stale = summarize(collect(_runs(with_release=False)))
    with pytest.raises(ValueError, match="detect_recall_release"):
        detection_table(stale, release_recall=True)


@pytest.mark.parametrize("release", [False, True])
def test_aggregate_tables_passes_the_config_option_to_the_detection_table(tmp_path, release):
    paths = []
    for record in _runs():
        path = tmp_path / f"runs/{record['task']}/painn/{record['method']}/seed{record['seed']}/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
        paths.append(str(path))
    (tmp_path / "tables").mkdir()
    outputs = {"summary": str(tmp_path / "tables/summary.csv"),
               **{f"detection_{kind}": str(tmp_path / f"tables/detection.{kind}") for kind in ("md", "tex", "csv")}}
    smk = FakeSnakemake(input={"metrics": paths}, output=outputs, log=tmp_path / "aggregate.log",
                        params={"detection_release_recall": release})
    runpy.run_path(str(SCRIPTS / "aggregate_tables.py"), init_globals={"snakemake": smk})
    header = Path(outputs["detection_md"]).read_text().splitlines()[0]
    assert ("recall (MEX release)" in header) is release


def test_the_workflow_and_the_authors_config_carry_the_detection_option():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["detection_release_recall"]["type"] == "boolean"
    assert "detection_release_recall=config[\"detection_release_recall\"]" in (REPO / "workflow" / "rules" / "aggregate.smk").read_text()
    assert yaml.safe_load((REPO / "config" / "authors.yaml").read_text())["detection_release_recall"] is True
    assert "detection_release_recall" not in yaml.safe_load((REPO / "config" / "config.yaml").read_text())


# --- GM: only exact zeros are replaced ---------------------------------------------------------------------------

def test_gm_replaces_only_exact_zero_errors():
    # errors 0 (-> 1e-10), 1e-12 (kept, not raised to 1e-10), 1
    value = M.error_geometric_mean([0.0, 0.0, 0.0], [0.0, 1e-12, 1.0])
    assert value == pytest.approx(float(np.exp(np.mean(np.log([1e-10, 1e-12, 1.0])))), rel=1e-12)
    assert value < M.error_geometric_mean([0.0, 0.0, 0.0], [0.0, 1e-10, 1.0])
