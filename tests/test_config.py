"""Bad configs stop the run before any job starts, with a message naming the key or value."""
from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
import yaml

from extrapbench.config.entries import ConfigError
from extrapbench.config.validate import validate_config

from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_shipped_configs_are_valid():
    validate_config(DEMO, SCHEMA, "config/demo.yaml")
    for name in ("config.yaml", "demo_paper_b.yaml", "authors.yaml", "cpu_gnn.yaml"):
        validate_config(yaml.safe_load((REPO / "config" / name).read_text()), SCHEMA, f"config/{name}")


def _mutated(change):
    config = copy.deepcopy(DEMO)
    change(config)
    return config


BAD_CONFIGS = {
    "unknown top-level key": (lambda c: c.update(sedes=[0]), ["'sedes' was unexpected"]),
    "unknown task": (lambda c: c.update(tasks=["phonons_top", "band_gap_top"]), ["tasks", "band_gap_top"]),
    "unknown method": (lambda c: c["methods"].update(mixup={}), ["methods", "mixup"]),
    "unknown backbone": (lambda c: c["backbones"].update(schnett={}), ["backbones", "schnett"]),
    "unknown method hyper-parameter": (lambda c: c["methods"]["mex"].update(lamda_abs=0.5),
                                       ["methods.mex", "lamda_abs"]),
    "negative learning rate": (lambda c: c["train"].update(learning_rate=-1e-3), ["train.learning_rate", "-0.001"]),
    "wrong type": (lambda c: c.update(seeds="0,1"), ["seeds", "'0,1'"]),
    "unknown train key": (lambda c: c["train"].update(epochs=3), ["train", "'epochs' was unexpected"]),
    "composition-only task without a composition backbone": (
        lambda c: c.update(other_split_tasks=["mps_band_gap"], backbones={"schnet": {}}),
        ["other_split_tasks", "mps_band_gap", "composition only", "'mps'", "magpie_mlp"]),
    "task listed twice": (lambda c: c.update(other_split_tasks=["phonons_top"]),
                          ["other_split_tasks", "phonons_top", "list a task once"]),
    "no task at all": (lambda c: c.update(tasks=[]), ["at 'tasks'", "no task selected"]),
    "train override for an unknown backbone": (lambda c: c.update(train_overrides={"painn": {"batch_size": 8}}),
                                               ["train_overrides.painn", "configured backbones"]),
    "method train setting for an unknown task": (
        lambda c: c["methods"]["mex"].update(train_by_task={"phonons_topp": {"batch_size": 32}}),
        ["methods.mex.train_by_task.phonons_topp", "unknown task"]),
    "unknown key in a method's train settings": (lambda c: c["methods"]["erm"].update(train={"patience": 3}),
                                                 ["methods.erm.train", "'patience' was unexpected"]),
    "bad value in a method's per-task settings": (
        lambda c: c["methods"]["erm"].update(train_by_task={"phonons_top": {"learning_rate": 0}}),
        ["methods.erm.train_by_task.phonons_top.learning_rate"]),
    "ablation naming no configured entry": (lambda c: c.update(ablations={"conr_beta4": "conr_b"}),
                                            ["at 'ablations'", "reference 'conr_b'"]),
    "unknown split kind": (lambda c: c.update(task_definitions={"my_task": {
        "dataset": "matbench_phonons", "target": "last phdos peak", "split": "leave_one_spacegroup_out"}}),
        ["task_definitions.my_task.split", "leave_one_spacegroup_out", "held_out_elements"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_message_names_the_problem(case):
    change, expected = BAD_CONFIGS[case]
    with pytest.raises(ConfigError) as info:
        validate_config(_mutated(change), SCHEMA, "my.yaml")
    message = str(info.value)
    assert "my.yaml" in message
    for fragment in expected:
        assert fragment in message


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    config = _mutated(lambda c: c["methods"].update(mixup={}))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown method 'mixup'" in output and str(path) in output
    assert not (tmp_path / "results").exists()


def test_full_grid_plans_every_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(REPO / "config" / "config.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    per_task = len(config["methods"]) * len(config["seeds"])
    structure_tasks = config["tasks"] + [t for t in config["other_split_tasks"] if t.startswith("hoip")]
    mps_tasks = [t for t in config["other_split_tasks"] if t.startswith("mps")]
    # every backbone on the structure tasks; only the composition backbone (magpie_mlp) on the MPS tasks
    runs = (len(structure_tasks) * len(config["backbones"]) + len(mps_tasks)) * per_task
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert len(mps_tasks) == 4 and len(structure_tasks) == 9
    # one evaluation job per (task, backbone, method) for all its seeds
    # the in-distribution reference: each range task's random twin, ERM on every backbone, every seed
    twin_runs = len(config["tasks"]) * len(config["backbones"]) * len(config["seeds"])
    # reference predictors: one job per (task, reference), the edges on the range tasks only; each evaluated per
    # backbone that runs the task
    references, edges = len(config["references"]), 2
    side_less = structure_tasks[len(config["tasks"]):] + mps_tasks
    assert counts["predict_reference"] == len(config["tasks"]) * references + len(side_less) * (references - edges)
    reference_evaluations = (len(config["tasks"]) * references + (len(side_less) - len(mps_tasks))
                             * (references - edges)) * len(config["backbones"]) + len(mps_tasks) * (references - edges)
    assert counts["train"] == runs + twin_runs
    assert counts["evaluate_runs"] == (runs + twin_runs) // len(config["seeds"]) + reference_evaluations
    # one train job per run, never the seeds of a (task, backbone, method) in one job (resources.seeds_in_one_job)
    assert config["resources"]["seeds_in_one_job"] is False and "train_seeds" not in counts
    assert counts["download_dataset"] == 6 and counts["split_task"] == 13 + len(config["tasks"])
    assert counts["build_graphs"] == 5  # no graphs for the composition-only MPS set
    assert counts["aggregate_tables"] == 1 and counts["aggregate_other_split_tasks"] == 1


@pytest.mark.parametrize("name", ["demo.yaml", "demo_paper_b.yaml"])
def test_demo_configs_train_all_seeds_of_a_run_in_one_job(tmp_path, name):
    """resources.seeds_in_one_job: one train_seeds job per (task, backbone, method), none per seed, asking for the
    backbone's runtime per run times the seeds."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(REPO / "config" / name)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((REPO / "config" / name).read_text())
    assert config["resources"]["seeds_in_one_job"] is True and len(config["seeds"]) > 1
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    tasks = config["tasks"] + config.get("other_split_tasks", [])
    # the random twins of the range tasks train ERM too (in_distribution)
    twins = len(config["tasks"]) * len((config.get("in_distribution") or {"methods": ["erm"]})["methods"])
    assert counts["train_seeds"] == (len(tasks) * len(config["methods"]) + twins) * len(config["backbones"])
    # evaluations: every trained (task, backbone, method) and every reference predictor's runs
    assert "train" not in counts and counts["evaluate_runs"] == counts["train_seeds"] + sum(
        1 for line in result.stdout.split("\nrule ") if line.startswith("evaluate_runs:")
        and re.search(r"wildcards: .*method=(edge_train|edge_known|train_mean|random_forest|ridge)\b", line))
    runtime = config["resources"]["per_backbone"]["magpie_mlp"]["runtime"] * len(config["seeds"])
    jobs = result.stdout.split("\nrule ")
    train_jobs = [job for job in jobs if job.startswith("train_seeds:")]
    assert len(train_jobs) == counts["train_seeds"]
    for job in train_jobs:
        outputs = re.search(r"^    output: (.*)$", job, re.M).group(1).split(", ")
        assert f"runtime={runtime}," in job and len(outputs) == 4 * len(config["seeds"]), job


def test_full_grid_states_method_hyper_parameters_at_their_module_defaults():
    """config.yaml spells the hyper-parameters out for readers; they must be the values the modules use, so that a
    method entry written as `{}` (demo configs) and the full grid train the same method."""
    from extrapbench.registry import METHODS
    methods = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["methods"]
    for name, hparams in methods.items():
        if "method" in hparams:  # a variant (mex_cos, ...): differs on purpose
            continue
        defaults = METHODS.get(name).defaults
        assert set(hparams) <= set(defaults), (name, set(hparams) - set(defaults))
        for key, value in hparams.items():
            assert value == defaults[key], f"config.yaml methods.{name}.{key} = {value!r}, module: {defaults[key]!r}"


def test_training_settings_layer_backbone_method_and_task_in_that_order():
    from extrapbench.config.entries import method_entry, train_settings

    config = {"train": {"batch_size": 64, "learning_rate": 1e-3, "max_epochs": 200, "lr_patience": 5},
              "train_overrides": {"magpie_mlp": {"batch_size": 128, "max_epochs": 50}},
              "methods": {"erm": {}, "mex": {"lambda_abs": 0.25, "train": {"lr_patience": 3, "batch_size": 16},
                                             "train_by_task": {"phonons_top": {"batch_size": 32}}}}}
    assert train_settings(config, "magpie_mlp", "erm", "phonons_top") == {
        "batch_size": 128, "learning_rate": 1e-3, "max_epochs": 50, "lr_patience": 5}
    assert train_settings(config, "painn", "mex", "phonons_top") == {
        "batch_size": 32, "learning_rate": 1e-3, "max_epochs": 200, "lr_patience": 3}
    assert train_settings(config, "painn", "mex", "phonons_bottom")["batch_size"] == 16
    # the method's training settings are not hyper-parameters of the method
    assert method_entry("mex", config["methods"]["mex"]) == ("mex", {"lambda_abs": 0.25})


def test_authors_config_takes_each_methods_run_script_settings():
    """config/authors.yaml: per (method, task) batch size / learning rate / weight decay and per-method patience as
    in the release's run scripts (spot checks of lines that differ between methods)."""
    from extrapbench.config.entries import train_settings

    config = yaml.safe_load((REPO / "config" / "authors.yaml").read_text())
    mex = train_settings(config, "equiformer_v2", "mex", "phonons_top")
    assert (mex["batch_size"], mex["learning_rate"], mex["weight_decay"]) == (32, 1e-3, 1e-3)
    assert (mex["early_stopping_patience"], mex["lr_patience"]) == (20, 3)
    erm = train_settings(config, "equiformer_v2", "erm", "formation_energy_bottom")
    assert (erm["batch_size"], erm["early_stopping_patience"], erm["lr_patience"]) == (128, 15, 5)
    bmc = train_settings(config, "equiformer_v2", "balanced_mse", "refractive_index_top")
    assert bmc["early_stopping_patience"] is None and bmc["max_epochs"] == 24
    assert train_settings(config, "equiformer_v2", "balanced_mse", "shear_modulus_top")["max_epochs"] == 200
    assert config["train"]["ema_decay"] == 0.999 and config["train"]["clip_grad_norm"] == 10.0
    assert config["split_ties"] == "both_sides" and config["std_ddof"] == 0
