"""config/README.md (the configuration manual) against the code: every registered method's hyper-parameter names,
every training setting, every top-level config key and every split kind are documented."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO

MANUAL = REPO / "config" / "README.md"


def manual() -> str:
    return MANUAL.read_text()


def method_table() -> dict[str, set[str]]:
    """method -> hyper-parameter names, from the manual's table (`| `name` | `module` | `key` default, ... |`)."""
    rows = {}
    for line in manual().splitlines():
        match = re.fullmatch(r"\| `(\w[\w+-]*)` \| `extrapbench/methods/[\w/]+\.py` \| (.*) \|", line.strip())
        if match:
            rows[match.group(1)] = set(re.findall(r"`(\w+)` ", match.group(2) + " "))
    return rows


def test_method_table_lists_every_registered_method_with_its_hyperparameter_names():
    from extrapbench.registry import METHODS

    table = method_table()
    assert set(table) == set(METHODS.names()), ("config/README.md's method table and the METHODS registry list "
                                                 f"different methods: {set(table) ^ set(METHODS.names())}")
    for name in METHODS.names():
        defaults = set(METHODS.get(name).defaults)
        assert table[name] == defaults, (f"config/README.md, method {name}: documented {sorted(table[name])}, "
                                         f"the module's defaults {sorted(defaults)}")


def test_every_training_setting_is_documented():
    from extrapbench.config.train_settings import train_keys

    section = manual().split("## Training settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    missing = train_keys() - documented
    assert not missing, f"config/README.md documents no row for the train keys {sorted(missing)}"


def test_every_top_level_key_is_documented():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    documented = set(re.findall(r"^\| `(\w+)` \|", manual(), re.M))
    missing = set(schema["properties"]) - documented
    assert not missing, f"config/README.md documents no row for the top-level keys {sorted(missing)}"


def test_every_split_kind_is_named():
    from extrapbench.registry import SPLITS

    for name in SPLITS.names():
        assert f"`{name}`" in manual(), f"config/README.md does not name the split kind {name!r}"


@pytest.mark.parametrize("block", ["phonons_random", "phonons_matbench_fold0"])
def test_the_random_split_example_is_a_valid_task(block):
    """The manual's example task definitions load and split the shipped phonons data."""
    text = manual()
    example = re.search(r"```yaml\n(task_definitions:\n  phonons_random:.*?)```", text, re.S).group(1)
    config = yaml.safe_load(example)
    assert block in config["task_definitions"] and block in config["other_split_tasks"]
    from extrapbench.tasks import get_tasks

    task = get_tasks(config["task_definitions"])[block]
    from extrapbench.registry import SPLITS

    import pandas as pd

    table = pd.DataFrame({"target": range(100)}, index=[f"m{i:03d}" for i in range(100)])
    parts = SPLITS.get(task.split)(table, **task.split_params)
    assert all(parts[p] for p in ("train", "val", "test"))
