"""MEX's candidate range [l, u]: the kinds, the prior's check against the labels, and the report table's share
of test labels outside the range."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch, Data

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.base import LabelContext
from extrapbench.methods.mex.method import MEX
from extrapbench.report.candidate_range import candidate_range_table, unreachable_share

from conftest import FakeSnakemake

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# standardised labels; transformed = standardised * 0.5 + 5: train [4.25, 5.5], data set [4.25, 6.5]
LABELS = LabelContext(train_min=-1.5, train_max=1.0, side="top", dataset_min=-1.5, dataset_max=3.0,
                      mean=5.0, std=0.5)


def _batch(n=16, features=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([Data(x=torch.randn(1, features, generator=g),
                                      y=torch.randn(1, generator=g)) for _ in range(n)])


@pytest.mark.parametrize("hparams,expected", [
    ({}, ((-10.0 - 5.0) / 0.5, (10.0 - 5.0) / 0.5)),                     # default: the release's [-10, 10]
    ({"candidate_range": "prior", "range_prior": [4.0, 6.0]}, ((4.0 - 5.0) / 0.5, (6.0 - 5.0) / 0.5)),
    ({"candidate_range": "train_margin", "range_margin": 1.0}, (-1.5 - 2.5, 1.0 + 2.5)),
    ({"candidate_range": "dataset"}, (-1.5, 3.0)),
])
def test_inference_stays_inside_the_candidate_range_and_records_it(hparams, expected):
    torch.manual_seed(0)
    method = MEX(MagpieMLP(in_dim=8, hidden_dim=16, out_dim=8), LABELS, num_candidates=64, search_iterations=3,
                 **hparams)
    assert (method.candidate_low, method.candidate_high) == pytest.approx(expected)
    for inference in ("cosine", "score"):
        method.hparams["inference"] = inference
        predictions = method.predict(_batch())
        assert predictions.shape == (16,)
        assert torch.all(predictions >= expected[0] - 1e-6) and torch.all(predictions <= expected[1] + 1e-6)
    described = method.describe()
    assert described["candidate_range"] == hparams.get("candidate_range", "prior")
    assert described["candidate_range_transformed"] == pytest.approx([e * 0.5 + 5.0 for e in expected])


def test_bad_prior_range_is_rejected():
    with pytest.raises(ValueError, match="range_prior"):
        MEX(MagpieMLP(in_dim=8), LABELS, range_prior=[2.0, 1.0])


@pytest.mark.parametrize("labels,prior,part,value", [
    (LABELS, [4.5, 6.0], "train", "4.25"),                      # train min 4.25 below the prior
    (LABELS, [4.0, 5.4], "train", "5.5"),                       # train max 5.5 above it
    (LabelContext(-1.5, 1.0, "top", -1.5, 3.0, 5.0, 0.5, val_min=1.0, val_max=1.4), [4.0, 5.6], "val", "5.7"),
])
def test_a_label_outside_range_prior_stops_the_run(labels, prior, part, value):
    with pytest.raises(ValueError, match="range_prior") as error:
        MEX(MagpieMLP(in_dim=8), labels, range_prior=prior)
    assert f"{part} label {value}" in str(error.value)
    # the same labels inside the prior, or another range kind, are fine
    MEX(MagpieMLP(in_dim=8), labels, range_prior=[0.0, 10.0])
    MEX(MagpieMLP(in_dim=8), labels, candidate_range="train_margin", range_prior=prior)


# ------------------------------------------------------------------------------------------------ report table

def _write_run(root: Path, method: str, seed: int, method_config: dict, used: tuple, test_labels, mae: float):
    """provenance.json + predictions.csv of one MEX run, as the train rule writes them."""
    run_dir = root / f"runs/phonons_top/painn/{method}/seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "provenance.json").write_text(json.dumps({
        "task": "phonons_top", "backbone": "painn", "method": method, "seed": seed, "registered_method": "mex",
        "config": {"method": method_config, "train": {"batch_size": 64}},
        "method_details": {"candidate_range": method_config["candidate_range"],
                           "candidate_range_transformed": list(used)}}))
    rows = ([{"id": f"v{i}", "split": "val", "y_true": 6.5, "y_pred": 6.4} for i in range(3)]
            + [{"id": f"t{i}", "split": "test", "y_true": y, "y_pred": y - mae} for i, y in enumerate(test_labels)])
    pd.DataFrame(rows).to_csv(run_dir / "predictions.csv", index=False)
    return run_dir / "provenance.json", run_dir / "predictions.csv"


def test_candidate_range_table_reports_the_share_of_test_labels_out_of_reach(tmp_path):
    """Test labels 6.8 ... 8.2: the prior [-10, 10] reaches all of them, a train margin [4.0, 7.5] misses the
    three above 7.5, the whole-dataset range [4.09, 8.2] reaches all (its top end is the largest test label)."""
    test_labels = [6.8, 7.0, 7.2, 7.4, 7.6, 7.9, 8.2]
    base = {"lambda_abs": 0.25, "score": "mlp", "range_prior": [-10.0, 10.0], "range_margin": 0.5}
    entries = {"mex": ({**base, "candidate_range": "prior"}, (-10.0, 10.0), 0.30),
               "mex_train_margin": ({**base, "candidate_range": "train_margin"}, (4.0, 7.5), 0.40),
               "mex_dataset_range": ({**base, "candidate_range": "dataset"}, (4.09, 8.2), 0.20)}
    provenance, predictions = [], []
    for method, (config, used, mae) in entries.items():
        for seed in (0, 1):
            p, q = _write_run(tmp_path, method, seed, config, used, test_labels, mae)
            provenance.append(str(p))
            predictions.append(str(q))
    summary = pd.DataFrame([{"task": "phonons_top", "backbone": "painn", "method": m, "n_seeds": 2,
                             "mae_mean": mae, "mae_std": 0.01} for m, (_, _, mae) in entries.items()])
    table = candidate_range_table(summary, provenance, predictions_paths=predictions)
    frame = table.to_frame().set_index("method")
    assert frame.loc["mex", "test_unreachable_share"] == 0.0
    assert frame.loc["mex_train_margin", "test_unreachable_share"] == pytest.approx(3 / 7)
    assert frame.loc["mex_dataset_range", "test_unreachable_share"] == 0.0
    assert (frame["n_test_labels"] == 7).all()
    # Δ is measured against the default fixed prior
    assert frame.loc["mex_train_margin", "reference"] == "mex"
    assert frame.loc["mex_train_margin", "delta_mae"] == pytest.approx(0.10)
    assert "42.9% of 7" in table.to_markdown()

    # the Snakemake script passes the runs' predictions through
    summary_path = tmp_path / "summary.csv"
    summary.to_csv(summary_path, index=False)
    outputs = {kind: str(tmp_path / f"out/cr.{kind}") for kind in ("md", "tex", "csv")}
    smk = FakeSnakemake(input={"summary": str(summary_path), "provenance": provenance, "predictions": predictions},
                        output=outputs, log=tmp_path / "cr.log")
    runpy.run_path(str(SCRIPTS / "table_candidate_range.py"), init_globals={"snakemake": smk})
    written = pd.read_csv(outputs["csv"]).set_index("method")
    assert written.loc["mex_train_margin", "test_unreachable_share"] == pytest.approx(3 / 7)


def test_unreachable_share_counts_only_labels_outside_the_interval():
    assert unreachable_share([1.0, 2.0, 3.0, 4.0], 1.5, 3.0) == pytest.approx(0.5)
    # an end recorded after a round trip through the standardisation still counts its own label as inside
    assert unreachable_share([8.2], 4.09, 8.2 * (1 - 1e-15)) == 0.0
