"""A real Snakemake run of paper B's split kinds beside one range task: held-out elements (HOIP, structures) and
element count (MPS, compositions only) with a composition and a graph backbone. The graph backbone is left out of
the MPS task by the DAG, and the tables say so; the paper's tables hold only the range task."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME
from test_workflow import snakemake

CONFIG = {
    "data_home": str(SHIPPED_DATA_HOME),
    "ane_data_home": str(REPO / "data" / "ane"),
    "tasks": ["phonons_top"],
    "other_split_tasks": ["hoip_low_band_gap", "mps_band_gap"],
    "backbones": {"magpie_mlp": {"hidden_dim": 32, "out_dim": 16, "num_layers": 2},
                  "schnet": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 1, "num_gaussians": 10}},
    "methods": {"erm": {}, "ane": {"embedding_dim": 8, "projection_hidden_dim": 16, "head_hidden_dim": 16}},
    "seeds": [0],
    "train": {"max_epochs": 2, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
    "graph": {"cutoff": 5.0, "max_neighbors": 12},
    "resources": {"train_threads": 1},
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow_other_splits")
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_graph_backbones_are_left_out_of_composition_only_tasks(finished_run):
    runs = finished_run / "results/runs"
    assert sorted(p.name for p in (runs / "mps_band_gap").iterdir()) == ["magpie_mlp"]
    assert sorted(p.name for p in (runs / "hoip_low_band_gap").iterdir()) == ["magpie_mlp", "schnet"]
    assert not (finished_run / "results/graphs/mps.pt").exists()
    assert (finished_run / "results/graphs/hoip.pt").exists()


def test_other_split_tables_say_why_a_cell_is_empty(finished_run):
    tables = finished_run / "results/tables/other_split_tasks"
    markdown = (tables / "mae.md").read_text()
    header = markdown.splitlines()[0]
    assert "hoip_low_band_gap" in header and "mps_band_gap" in header and "phonons_top" not in header
    schnet_rows = [line for line in markdown.splitlines() if line.startswith("| SchNet |")]
    methods = [row for row in schnet_rows if "| ref: " not in row]
    assert len(methods) == 2 and all(row.split("|")[4].strip() == "n/a" for row in schnet_rows)
    # the reference predictors without a held-out side (no edges on these splits) under every backbone
    references = {row.split("|")[2].strip() for row in schnet_rows} - {row.split("|")[2].strip() for row in methods}
    assert references == {"ref: Train mean", "ref: RF (Magpie)", "ref: Ridge (Magpie)"}
    assert "not run by design (composition only" in markdown
    assert (tables / "r2.md").exists() and (tables / "spearman.tex").exists()
    summary = pd.read_csv(tables / "summary.csv")
    assert set(summary["task"]) == {"hoip_low_band_gap", "mps_band_gap"}
    assert summary["detect_recall_mean"].isna().all()  # no "beyond the train range" side for these splits
    splits = (tables / "splits.md").read_text()
    assert "test: contains Pb and I" in splits and "train: ≤2 elements, test: ≥3" in splits


def test_the_paper_tables_keep_only_the_range_tasks(finished_run):
    summary = pd.read_csv(finished_run / "results/tables/summary.csv")
    assert set(summary["task"]) == {"phonons_top"}
    assert "hoip" not in (finished_run / "results/tables/table1_splits.md").read_text()
    for task in ("phonons_top", "hoip_low_band_gap", "mps_band_gap"):
        assert (finished_run / f"results/figures/fig4_parity_{task}.png").stat().st_size > 5000
    # provenance too is kept apart, so a config with only one kind of task never overwrites the other's table
    paper = pd.read_csv(finished_run / "results/tables/provenance.csv")
    other = pd.read_csv(finished_run / "results/tables/other_split_tasks/provenance.csv")
    assert set(paper["task"]) == {"phonons_top"}
    assert set(other["task"]) == {"hoip_low_band_gap", "mps_band_gap"}
    assert set(other.loc[other["task"] == "mps_band_gap", "backbone"]) == {"magpie_mlp"}


def test_other_split_runs_test_on_the_held_out_chemistry(finished_run):
    split = json.loads((finished_run / "results/splits/hoip_low_band_gap.json").read_text())
    assert split["split"] == "held_out_elements" and split["test"]["n"] == 117
    predictions = pd.read_csv(finished_run / "results/runs/hoip_low_band_gap/schnet/ane/seed0/predictions.csv")
    assert set(predictions.loc[predictions["split"] == "test", "id"]) == set(split["test"]["ids"])
    metrics = json.loads((finished_run / "results/runs/mps_band_gap/magpie_mlp/erm/seed0/metrics.json").read_text())
    assert metrics["n_test"] == 1523 and metrics["r2"] is not None
