"""A config found valid is remembered per (config, code), so a parse of the workflow imports no torch; anything
changed is checked again, and a bad config is never remembered."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from extrapbench.config import validate as checked_config
from extrapbench.config.entries import ConfigError

from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_a_valid_config_is_checked_once_and_its_facts_remembered(tmp_path, monkeypatch):
    facts = checked_config.check_config(DEMO, SCHEMA, "demo.yaml", cache_dir=tmp_path)
    assert facts["backbone_input_kinds"] == {"magpie_mlp": "composition"}
    assert facts["references"]["edge_train"] == {"needs_features": False, "needs_side": True}
    assert facts["references"]["random_forest"] == {"needs_features": True, "needs_side": False}
    assert len(list(tmp_path.glob("*.json"))) == 1

    def no_second_check(*args, **kwargs):
        raise AssertionError("the registries were consulted again for a remembered config")

    monkeypatch.setattr(checked_config, "_registry_check_in_child", no_second_check)
    assert checked_config.check_config(copy.deepcopy(DEMO), SCHEMA, "demo.yaml", cache_dir=tmp_path) == facts


def test_a_changed_config_is_checked_again_and_a_bad_one_never_remembered(tmp_path):
    checked_config.check_config(DEMO, SCHEMA, "demo.yaml", cache_dir=tmp_path)
    bad = copy.deepcopy(DEMO)
    bad["methods"]["mex"]["num_candidates"] = 0
    for _ in range(2):  # the second time too: nothing was stored for it
        with pytest.raises(ConfigError, match=r"(?s)my\.yaml.*methods\.mex\.num_candidates.*integer >= 1"):
            checked_config.check_config(bad, SCHEMA, "my.yaml", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_the_key_covers_the_librarys_code(tmp_path, monkeypatch):
    """An edit of any module (a method's hyper-parameter declaration, say) must invalidate what was remembered."""
    before = checked_config.config_key(DEMO, SCHEMA)
    monkeypatch.setattr(checked_config, "PACKAGE", tmp_path)
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "mex.py").write_text("defaults = {}\n")
    edited = checked_config.config_key(DEMO, SCHEMA)
    (tmp_path / "methods" / "mex.py").write_text("defaults = {'num_candidates': 2000}\n")
    assert len({before, edited, checked_config.config_key(DEMO, SCHEMA)}) == 3


def test_the_key_tells_keys_of_different_types_apart():
    """YAML maps may mix int and str keys (json.dumps would fail to sort them), and 1 is not "1"."""
    mixed = {**DEMO, "extra": {1: "a", "b": 2}}
    as_text = {**DEMO, "extra": {"1": "a", "b": 2}}
    assert checked_config.config_key(mixed, SCHEMA) != checked_config.config_key(as_text, SCHEMA)


def test_planning_the_workflow_never_imports_torch_in_snakemakes_process(tmp_path):
    """The first dry run checks the config in a child process, the second reads what it remembered: neither
    loads torch into Snakemake's own process (python -X importtime lists every module that process imports)."""
    config = {**DEMO, "data_home": str(REPO / "data" / "matminer")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    for attempt in range(2):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--quiet", "-s",
                                 str(REPO / "workflow" / "Snakefile"), "-d", str(tmp_path), "--configfile",
                                 str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "snakemake" in imported and "extrapbench.config.validate" in imported
        assert not {"torch", "scipy", "torch_geometric"} & imported, attempt
    assert len(list((tmp_path / ".snakemake" / "extrapbench" / "checked-configs").glob("*.json"))) == 1
