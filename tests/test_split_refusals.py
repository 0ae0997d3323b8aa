"""Splits that would give complete-looking tables resting on nothing are refused before anything trains: a part
below the config's `min_part_size`, and a part whose labels are all equal."""
from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, FakeSnakemake
from extrapbench.data.errors import DataValidationError
from extrapbench.splits.task_split import make_split
from extrapbench.tasks import BUILTIN_TASKS

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def schema_default(key):
    return yaml.safe_load(SCHEMA.read_text())["properties"][key]["default"]


def table(targets):
    return pd.DataFrame({"target": np.asarray(targets, dtype=float)}, index=[f"m{i:04d}" for i in range(len(targets))])


def test_equal_train_labels_are_refused_naming_the_task_and_the_part():
    # phonons_top's train part is the lowest 70%: 885 of 1265 labels, all equal here
    targets = np.concatenate([np.full(885, 5.0), np.linspace(5.5, 7.0, 380)])
    with pytest.raises(DataValidationError, match=r"task phonons_top: all 885 train labels are equal \(5,"):
        make_split(BUILTIN_TASKS["phonons_top"], table(targets))


def test_a_varied_split_passes_both_checks():
    summary = make_split(BUILTIN_TASKS["phonons_top"], table(np.linspace(0.0, 1.0, 100)),
                         min_part_size=schema_default("min_part_size"))
    assert (summary["train"]["n"], summary["val"]["n"], summary["test"]["n"]) == (70, 15, 15)


def test_a_five_row_dataset_is_refused_below_the_schemas_minimum_part_size():
    minimum = schema_default("min_part_size")
    assert minimum == 10
    with pytest.raises(DataValidationError, match=r"task phonons_bottom: the test part has 1 material\(s\), the val "
                                                  r"part has 1 material\(s\), the train part has 3 material\(s\), "
                                                  r"fewer than min_part_size=10 .*says next to nothing"):
        make_split(BUILTIN_TASKS["phonons_bottom"], table([1.0, 2.0, 3.0, 4.0, 5.0]), min_part_size=minimum)
    # the library call without a minimum (a caller's own choice) still splits it
    assert make_split(BUILTIN_TASKS["phonons_bottom"], table([1.0, 2.0, 3.0, 4.0, 5.0]))["test"]["n"] == 1


def test_the_split_rule_applies_the_configs_minimum(phonons_table, tmp_path):
    from extrapbench.data.datasets import write_dataset_table

    dataset = tmp_path / "matbench_phonons.json.gz"
    write_dataset_table(phonons_table.iloc[:5], dataset)
    smk = FakeSnakemake(input={"dataset": str(dataset)},
                        output={"summary": str(tmp_path / "t.json"), "table": str(tmp_path / "t.csv")},
                        log=tmp_path / "split.log", params={"task": BUILTIN_TASKS["phonons_top"],
                                                            "split_ties": "held_out"})
    smk.config = {"min_part_size": schema_default("min_part_size")}
    with pytest.raises(DataValidationError, match="task phonons_top: the test part has 1 material"):
        runpy.run_path(str(REPO / "scripts" / "split_task.py"), init_globals={"snakemake": smk})
    assert not Path(tmp_path / "t.json").exists()
