"""config/cpu_gnn.yaml (`make demo-gnn`: paper A's eight methods on PaiNN's small preset on a CPU, three seeds) and
its SchNet variant config/cpu_gnn_schnet.yaml (`make demo-gnn-schnet`).

The full runs take an hour (SchNet) to hours (PaiNN); here both configs are planned as shipped, the variant is
checked to differ from cpu_gnn.yaml only where its header says, and a two-epoch cut of cpu_gnn.yaml (one task,
one seed, ERM and MEX, a tiny PaiNN, one reference predictor, no random twin) runs end to end through the workflow.
"""
from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME
from test_workflow import snakemake

CPU_GNN = yaml.safe_load((REPO / "config" / "cpu_gnn.yaml").read_text())
CPU_GNN_SCHNET = yaml.safe_load((REPO / "config" / "cpu_gnn_schnet.yaml").read_text())
PAPER_A_METHODS = ["erm", "denseweight", "ranksim", "balanced_mse", "conr", "c_mixup", "foma", "mex"]
TASKS = ["phonons_bottom", "phonons_top"]
EPOCHS = 2


def write_config(workdir, config):
    (workdir / "config.yaml").write_text(yaml.safe_dump({**config, "data_home": str(SHIPPED_DATA_HOME)}))


def test_the_schnet_variant_differs_from_cpu_gnn_only_in_its_backbone():
    """Its header promises: identical to cpu_gnn.yaml except the backbone and that backbone's resources."""
    assert list(CPU_GNN_SCHNET["backbones"]) == ["schnet"]
    assert list(CPU_GNN_SCHNET["resources"]["per_backbone"]) == ["schnet"]
    strip = lambda config: {**config, "backbones": None,  # noqa: E731
                            "resources": {**config["resources"], "per_backbone": None}}
    assert strip(CPU_GNN_SCHNET) == strip(CPU_GNN)


@pytest.mark.parametrize("config, backbone", [(CPU_GNN, "painn"), (CPU_GNN_SCHNET, "schnet")],
                         ids=["cpu_gnn", "cpu_gnn_schnet"])
def test_cpu_gnn_config_plans_every_method(tmp_path, config, backbone):
    assert list(config["backbones"]) == [backbone] and sorted(config["methods"]) == sorted(PAPER_A_METHODS)
    assert "references" not in config and "in_distribution" not in config  # their defaults run
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-5000:]
    output = result.stdout + result.stderr
    planned = set()
    for block in re.split(r"\n(?=\S)", output):
        if block.startswith("rule train_seeds:"):
            found = re.search(r"wildcards: task=(\S+), backbone=(\S+), method=(\S+)", block)
            planned.add(found.groups())
    for task in TASKS:
        for method in PAPER_A_METHODS:
            assert (task, backbone, method) in planned, (task, method)
    # beside them only the random twins' ERM (in_distribution's default)
    assert planned - {(t, backbone, m) for t in TASKS for m in PAPER_A_METHODS} == \
        {(f"{t}_random", backbone, "erm") for t in TASKS}
    assert "rule table_beats_erm_edge:" in output


def two_epoch_config() -> dict:
    config = copy.deepcopy(CPU_GNN)
    config.update(tasks=["phonons_top"], seeds=[0], references={"edge_train": {}}, in_distribution=None)
    config["backbones"] = {"painn": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8}}
    config["methods"] = {name: config["methods"][name] for name in ("erm", "mex")}
    config["methods"]["mex"].update(num_noise_labels=16, num_candidates=64)
    config["train"]["max_epochs"] = EPOCHS
    for entry in config["methods"].values():  # a per-method or per-task max_epochs would outrank the cap
        for settings in [entry.get("train") or {}, *(entry.get("train_by_task") or {}).values()]:
            if "max_epochs" in settings:
                settings["max_epochs"] = EPOCHS
    return config


def test_cpu_gnn_two_epochs_end_to_end(tmp_path):
    write_config(tmp_path, two_epoch_config())
    result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    table = (tmp_path / "results/tables/mae.md").read_text()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| PaiNN |")]
    assert [row[1] for row in rows if not row[1].startswith("ref:")] == ["ERM", "MEX"], table
    provenance = json.loads((tmp_path / "results/runs/phonons_top/painn/mex/seed0/provenance.json").read_text())
    train = provenance["config"]["train"]
    assert provenance["epochs_run"] <= EPOCHS and train["device"] == "cpu"
    assert (train["ema_decay"], train["clip_grad_norm"], train["batch_size"]) == (0.999, 10.0, 32)
    assert (provenance["config"]["backbone"]["cutoff"], provenance["config"]["backbone"]["max_neighbors"]) == (12.0, 20)
