"""stale inputs, partial files and cluster faults: nothing wrong may look complete, and each fault says
what it is (the file, the key, the material) in words a user can act on."""
from __future__ import annotations

import copy
import errno
import json
import logging
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest
import yaml

from extrapbench.config.entries import ConfigError
from extrapbench.config.validate import validate_config

from conftest import REPO, SHIPPED_DATA_HOME

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


# --- 1. equal settings in another key order are the same params: nothing retrains -------------------------------

TINY = {
    "data_home": str(SHIPPED_DATA_HOME),
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
    "methods": {"erm": {"loss": "l1", "head_hidden_dim": 16, "train": {"lr_patience": 3, "lr_factor": 0.5}}},
    "seeds": [0],
    "train": {"max_epochs": 2, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
    "references": {},
    "in_distribution": None,
    "resources": {"train_threads": 1},
}
RUN = "results/runs/phonons_top/magpie_mlp/erm/seed0"


def reordered(value):
    """`value` with every mapping's keys in reverse order, recursively."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return value


def snakemake(workdir, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-s",
                           str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), *args,
                           "--configfile", str(workdir / "config.yaml")],  # last: it takes several files
                          capture_output=True, text=True, timeout=600)


def test_reordering_config_keys_retrains_nothing(tmp_path):
    """The training rules' params are canonical (keys sorted, recursively): Snakemake stores the repr of a job's
    params and reruns the job when it differs ("Params have changed"), so without that a reordered `train:` or
    method entry would retrain every run."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    first = snakemake(tmp_path, f"{RUN}/metrics.json")
    assert first.returncode == 0, first.stderr[-5000:]
    swapped = {**reordered(TINY), "train": dict(reversed(list(TINY["train"].items())))}
    assert list(swapped["train"]) != list(TINY["train"]) and list(swapped["methods"]["erm"]) != list(
        TINY["methods"]["erm"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(swapped, sort_keys=False))
    again = snakemake(tmp_path, "-n", f"{RUN}/metrics.json")
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-5000:]
    assert "params have changed" not in output.lower() and "Nothing to be done" in output, output[-5000:]


def test_run_params_are_canonical():
    from extrapbench.config.entries import canonical

    value = {"b": {"y": [{"q": 1, "p": 2}], "x": (1, 2)}, "a": None}
    assert repr(canonical(value)) == "{'a': None, 'b': {'x': (1, 2), 'y': [{'p': 2, 'q': 1}]}}"
    assert canonical(value) == value
    assert repr(canonical({1: "int", "1": "str"})) == repr(canonical({"1": "str", 1: "int"}))


# --- 2. names, seeds, ablations and data_home refused by the config check, naming the key -------------------------

def _mutated(change):
    config = copy.deepcopy(DEMO)
    change(config)
    return config


def _add_task(config, name):
    config["task_definitions"] = {name: {"dataset": "matbench_phonons", "target": "last phdos peak",
                                         "split": "range"}}
    config["tasks"] = [name]


BAD_NAMES = {
    "method name with a space": (lambda c: c["methods"].update({"my erm": {"method": "erm"}}),
                                 ["at 'methods'", "'my erm'", "[A-Za-z0-9_+-]"]),
    "method name with a dot": (lambda c: c["methods"].update({"erm.v2": {"method": "erm"}}),
                               ["at 'methods'", "'erm.v2'", "[A-Za-z0-9_+-]"]),
    "backbone name with a plus": (lambda c: c["backbones"].update({"magpie+mlp": {"backbone": "magpie_mlp"}}),
                                  ["at 'backbones'", "'magpie+mlp'", "[A-Za-z0-9_-]"]),
    "task name with a dot": (lambda c: _add_task(c, "phonons.top"),
                             ["at 'task_definitions'", "'phonons.top'", "[A-Za-z0-9_-]"]),
    "reference name with a slash": (lambda c: c.update(references={"edge/train": {"reference": "edge_train"}}),
                                    ["at 'references'", "'edge/train'", "[A-Za-z0-9_+-]"]),
    "seed beyond numpy's range": (lambda c: c.update(seeds=[0, 2 ** 32]),
                                  ["at 'seeds.1'", "4294967296", "4294967295"]),
    "selection seed beyond numpy's range": (lambda c: c["selection"].update(seed=2 ** 40),
                                            ["at 'selection.seed'", str(2 ** 40)]),
    "erm listed as an ablation of itself": (lambda c: c.update(ablations=["erm"]),
                                            ["at 'ablations'", "'erm'", "its own reference"]),
    "an ablation mapped onto itself": (lambda c: c.update(ablations={"fds": "fds"}),
                                       ["at 'ablations'", "'fds'", "its own reference"]),
    "ablations referring to each other": (lambda c: c.update(ablations={"fds": "lds", "lds": "fds"}),
                                          ["at 'ablations'", "cycle", "fds -> lds -> fds"]),
    "a longer cycle of ablations": (lambda c: c.update(ablations={"fds": "lds", "lds": "conr", "conr": "fds"}),
                                    ["at 'ablations'", "cycle", "conr -> fds -> lds -> conr"]),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_bad_names_seeds_and_ablations_are_refused_by_the_config_check(case):
    change, expected = BAD_NAMES[case]
    with pytest.raises(ConfigError) as info:
        validate_config(_mutated(change), SCHEMA, "my.yaml")
    message = str(info.value)
    assert "my.yaml" in message
    for fragment in expected:
        assert fragment in message, message


def test_allowed_names_seeds_and_ablations_pass():
    def change(config):
        config["seeds"] = [0, 2 ** 32 - 1]
        config["methods"]["erm_v-2+x"] = {"method": "erm"}
        config["ablations"] = {"fds": "lds", "lds": "erm", "erm_v-2+x": "erm"}  # a chain, not a cycle
        config["references"] = {"edge_train+1": {"reference": "edge_train"}}
    validate_config(_mutated(change), SCHEMA, "my.yaml")


def test_data_home_that_is_a_file_is_refused(tmp_path):
    a_file = tmp_path / "matminer.json.gz"
    a_file.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        validate_config(_mutated(lambda c: c.update(data_home=str(a_file))), SCHEMA, "my.yaml")
    message = str(info.value)
    assert "at 'data_home'" in message and str(a_file) in message and "is a file, expected a folder" in message


# --- 3. a corrupt metrics.json names itself ----------------------------------------------------------------------

def test_corrupt_metrics_json_is_named(tmp_path):
    from extrapbench.report.summary import collect

    good = {"task": "t", "backbone": "b", "method": "erm", "seed": 0, "mae": 1.0}
    (tmp_path / "good.json").write_text(json.dumps(good))
    truncated = tmp_path / "runs" / "metrics.json"
    truncated.parent.mkdir()
    truncated.write_text(json.dumps({**good, "seed": 1})[:20])
    with pytest.raises(ValueError) as info:
        collect([tmp_path / "good.json", truncated])
    message = str(info.value)
    assert str(truncated) in message and "not valid JSON" in message and "rerun its evaluation" in message


# --- 4. a material without neighbours is named, with the cutoff --------------------------------------------------

def _lonely_graphs(tmp_path, cutoff=5.0):
    from pymatgen.core import Lattice, Structure

    from extrapbench.data.graphs import build_graphs, save_graphs

    bonded = Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lonely = Structure(Lattice.cubic(30.0), ["Ar"], [[0, 0, 0]])
    ids = ["mp-1", "mp-lonely", "mp-2"]
    graphs = build_graphs([bonded, lonely, bonded], cutoff, 12, progress=False, ids=ids)
    save_graphs(tmp_path / "graphs.pt", ids, graphs, cutoff=cutoff, max_neighbors=12)
    return tmp_path / "graphs.pt"


def test_graph_building_names_the_material_without_neighbours(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="extrapbench.data.graphs"):
        _lonely_graphs(tmp_path)
    assert "mp-lonely" in caplog.text and "5.00 Å" in caplog.text


def test_training_on_a_material_without_neighbours_names_it_and_the_cutoff(tmp_path):
    from extrapbench.training.samples import graph_samples

    path = _lonely_graphs(tmp_path)
    with pytest.raises(ValueError) as info:
        graph_samples(path, {"train": ["mp-1"], "val": ["mp-2"], "test": ["mp-lonely"]})
    message = str(info.value)
    assert "mp-lonely" in message and "5.0 Å" in message and "graph.cutoff" in message and str(path) in message
    samples, meta = graph_samples(path, {"train": ["mp-1"], "val": ["mp-2"], "test": ["mp-1"]})  # no lonely one
    assert meta["cutoff"] == 5.0 and len(samples["test"]) == 1


# --- 5. a full disk says so, names the file and leaves no partial file ---------------------------------------------

DiskUsage = namedtuple("DiskUsage", "total used free")
#: what torch.save raises when the disk fills during the write (PyTorchStreamWriter)
TORCH_WRITE_FAILED = ("[enforce fail at inline_container.cc:626] . unexpected pos 4302592 vs 4302480")


def _fill_then_fail(exc):
    def write(path):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise exc
    return write


def test_write_atomic_says_the_disk_is_full(tmp_path):
    from extrapbench.files import write_atomic

    target = tmp_path / "runs" / "predictions.csv"
    with pytest.raises(OSError) as info:
        write_atomic(_fill_then_fail(OSError(errno.ENOSPC, "No space left on device")), target)
    assert info.value.errno == errno.ENOSPC
    assert "no space left on device" in str(info.value) and str(target) in str(info.value)
    assert list(target.parent.iterdir()) == []  # no partial file, no temporary file


def test_torch_save_on_a_full_disk_says_so(tmp_path, monkeypatch):
    from extrapbench.files import write_atomic

    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10 ** 9, 10 ** 9, 0))
    target = tmp_path / "model.pt"
    with pytest.raises(OSError) as info:
        write_atomic(_fill_then_fail(RuntimeError(TORCH_WRITE_FAILED)), target)
    message = str(info.value)
    assert "no space left on device" in message and str(target) in message and "inline_container" in message
    assert list(tmp_path.iterdir()) == []


def test_torch_save_failing_with_space_left_is_not_called_a_full_disk(tmp_path, monkeypatch):
    from extrapbench.files import write_atomic

    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10 ** 12, 10 ** 9, 10 ** 11))
    with pytest.raises(RuntimeError, match="inline_container") as info:
        write_atomic(_fill_then_fail(RuntimeError(TORCH_WRITE_FAILED)), tmp_path / "model.pt")
    assert "no space" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_write_json_atomic_says_the_disk_is_full(tmp_path, monkeypatch):
    import extrapbench.evaluation.runs as metrics

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(metrics.os, "fsync", full)
    target = tmp_path / "metrics.json"
    with pytest.raises(OSError) as info:
        metrics.write_json_atomic({"mae": 1.0}, target)
    assert "no space left on device" in str(info.value) and str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_resume_checkpoint_on_a_full_disk_says_so(tmp_path, monkeypatch):
    import extrapbench.training.loop as training

    def failing_save(state, path):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise RuntimeError(TORCH_WRITE_FAILED)

    monkeypatch.setattr(training.torch, "save", failing_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10 ** 9, 10 ** 9, 0))
    target = tmp_path / "resume.pt"
    with pytest.raises(OSError) as info:
        training._save_state(target, {"epoch": 1})
    assert "no space left on device" in str(info.value) and str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []
