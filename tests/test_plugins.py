"""Plug-ins from outside the package: a config entry's `class: module:Class`, and a name an installed distribution
registers in an entry-point group. They are checked as the built-ins are, and trained by the real workflow
(examples/my_backbone.py: its own featurizer; examples/my_method.py; config/example_plugin.yaml)."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from extrapbench.config.entries import ConfigError
from extrapbench.config.validate import check_config

from conftest import REPO, SHIPPED_DATA_HOME

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
EXAMPLES = REPO / "examples"
EXAMPLE = yaml.safe_load((REPO / "config" / "example_plugin.yaml").read_text())


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch):
    """examples/ on sys.path, as `PYTHONPATH=$PWD/examples` puts it there for the workflow."""
    monkeypatch.syspath_prepend(str(EXAMPLES))


def _changed(change):
    config = copy.deepcopy(EXAMPLE)
    change(config)
    return config


def test_the_example_config_is_accepted_with_its_input_kinds():
    facts = check_config(EXAMPLE, SCHEMA, "config/example_plugin.yaml")
    assert facts["backbone_input_kinds"] == {"fractions": "features", "magpie_mlp": "composition"}


BAD = {
    "a bad value of the outside backbone": (
        lambda c: c["backbones"]["fractions"].update(hidden_dim=0),
        "at 'backbones.fractions.hidden_dim': 0 is not allowed; expected an integer >= 1"),
    "an unknown key of the outside backbone": (
        lambda c: c["backbones"]["fractions"].update(widht=3),
        "at 'backbones.fractions': unknown hyper-parameter 'widht'; known: ['dropout', 'hidden_dim', 'out_dim']"),
    "a bad value of the outside method": (
        lambda c: c["methods"]["huber"].update(delta=-1),
        "at 'methods.huber.delta': -1 is not allowed; expected a finite number > 0"),
    "an unimportable module": (
        lambda c: c["backbones"]["fractions"].update({"class": "my_backbon:ElementFractionMLP"}),
        "at 'backbones.fractions': class 'my_backbon:ElementFractionMLP' cannot be imported: "
        "ModuleNotFoundError: No module named 'my_backbon' (the module must be importable: installed, or its "
        "folder on PYTHONPATH)"),
    "a class the module lacks": (
        lambda c: c["backbones"]["fractions"].update({"class": "my_backbone:ElementFraction"}),
        f"at 'backbones.fractions': class 'my_backbone:ElementFraction': module 'my_backbone' "
        f"({EXAMPLES / 'my_backbone.py'}) has no attribute 'ElementFraction'"),
    "a method class as a backbone": (
        lambda c: c["backbones"]["fractions"].update({"class": "my_method:HuberRegression"}),
        "at 'backbones.fractions': class 'my_method:HuberRegression' is not a backbone: HuberRegression must "
        "derive from extrapbench.backbones.base:Backbone"),
    "two names for one class": (
        lambda c: c["methods"]["huber"].update(method="erm"),
        "at 'methods.huber': both 'class' (my_method:HuberRegression) and 'method' (erm) name its class; keep one"),
    "no module in the reference": (
        lambda c: c["methods"]["huber"].update({"class": "HuberRegression"}),
        "at 'methods.huber.class': 'HuberRegression' does not match"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_outside_entry_is_refused_in_one_line(case):
    change, expected = BAD[case]
    with pytest.raises(ConfigError) as info:
        check_config(_changed(change), SCHEMA, "my.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid config my.yaml:" and len(lines) == 2, lines
    assert lines[1].startswith(f"  - {expected}"), lines[1]


def test_an_import_error_inside_the_module_is_named(tmp_path, monkeypatch):
    (tmp_path / "broken_net.py").write_text("import numpy\nraise RuntimeError('no GPU\\nfound')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _changed(lambda c: c["backbones"]["fractions"].update({"class": "broken_net:Net"}))
    with pytest.raises(ConfigError) as info:
        check_config(config, SCHEMA, "my.yaml")
    assert str(info.value).splitlines()[1:] == [
        "  - at 'backbones.fractions': class 'broken_net:Net' cannot be imported: RuntimeError: no GPU found"]


def test_a_features_backbone_needs_a_featurize_on_its_class(tmp_path, monkeypatch):
    (tmp_path / "no_featurizer.py").write_text(textwrap.dedent("""
        from extrapbench.backbones.base import Backbone
        class Net(Backbone):
            input_kind = "features"
            def __init__(self, in_dim, width=8):
                super().__init__()
            def featurize(self, table):
                return None
        class Odd(Backbone):
            input_kind = "pixels"
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _changed(lambda c: c["backbones"].update(net={"class": "no_featurizer:Net"},
                                                      odd={"class": "no_featurizer:Odd"}))
    with pytest.raises(ConfigError) as info:
        check_config(config, SCHEMA, "my.yaml")
    assert ("at 'backbones.net': no_featurizer:Net declares input_kind 'features' but has no classmethod or "
            "staticmethod featurize(table)") in str(info.value)
    assert ("at 'backbones.odd': no_featurizer:Odd declares input_kind 'pixels'; expected one of composition, "
            "graph, features") in str(info.value)


def test_an_outside_reference_predictor_is_checked_and_built(tmp_path, monkeypatch):
    (tmp_path / "my_reference.py").write_text(textwrap.dedent("""
        import numpy as np
        from extrapbench.hparams import Number
        from extrapbench.references.base import ReferencePredictor, constant
        class TrainQuantile(ReferencePredictor):
            defaults = {"q": 0.5}
            hparam_specs = {"q": Number(min=0, max=1)}
            description = "a quantile of the train labels"
            def predict(self, data, seed):
                return constant(np.quantile(data.y["train"], self.params["q"]), data)
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from extrapbench.training.reference_run import build_reference

    entry = {"class": "my_reference:TrainQuantile", "q": 0.9}
    check_config(_changed(lambda c: c.update(references={"q90": entry})), SCHEMA, "my.yaml")
    with pytest.raises(ConfigError, match=r"at 'references\.q90\.q': 2 is not allowed; expected a finite number >= 0 and <= 1"):
        check_config(_changed(lambda c: c.update(references={"q90": {**entry, "q": 2}})), SCHEMA, "my.yaml")
    predictor = build_reference("q90", entry)
    assert predictor.params == {"q": 0.9} and type(predictor).registry_name == "my_reference:TrainQuantile"


def test_a_featurizer_must_give_one_finite_row_per_material(tmp_path):
    import numpy as np

    from extrapbench.data.datasets import load_dataset_table, write_dataset_table
    from extrapbench.training.samples import own_feature_samples

    table = load_dataset_table("matbench_phonons", SHIPPED_DATA_HOME, tmp_path)
    path = tmp_path / "table.json.gz"
    write_dataset_table(table.iloc[:30], path)
    ids = list(table.index[:30])
    parts = {"train": ids[:20], "val": ids[20:25], "test": ids[25:]}

    class Counts:
        registry_name = "counts"

        @staticmethod
        def featurize(rows):
            assert list(rows.columns) == ["composition", "structure"]  # no targets
            return np.array([[len(c), c.num_atoms] for c in rows["composition"]])

    samples = own_feature_samples(path, parts, Counts)
    assert [len(samples[p]) for p in ("train", "val", "test")] == [20, 5, 5]
    train = np.concatenate([s.x.numpy() for s in samples["train"]])
    assert train.shape == (20, 2) and abs(train.mean(axis=0)).max() < 1e-5

    Counts.featurize = staticmethod(lambda rows: np.zeros((len(rows) - 1, 2)))
    with pytest.raises(ValueError, match=r"backbone 'counts': featurize\(table\) returned shape \(29, 2\); "
                                         r"expected \(30, n_features\)"):
        own_feature_samples(path, parts, Counts)


def test_an_entry_point_of_an_installed_distribution_is_found_by_name(tmp_path):
    """A real distribution on sys.path (its dist-info's entry_points.txt), read by importlib.metadata in a fresh
    interpreter: its backbone is resolved by name, declared and checked; a built-in's name is not taken over."""
    (tmp_path / "tiny_plugin.py").write_text(textwrap.dedent("""
        from torch import nn
        from extrapbench.backbones.base import Backbone
        from extrapbench.hparams import Integer
        class TinyNet(Backbone):
            hparam_specs = {"width": Integer(min=2)}
            def __init__(self, in_dim, width=8):
                super().__init__()
                self.net, self.out_dim = nn.Linear(in_dim, width), width
            def forward(self, batch):
                return self.net(batch.x)
        """))
    info = tmp_path / "tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[extrapbench.backbones]\ntiny_net = tiny_plugin:TinyNet\n"
                                           "magpie_mlp = tiny_plugin:TinyNet\n")
    (info / "RECORD").write_text("")
    code = textwrap.dedent(f"""
        import copy, yaml
        from extrapbench.config.entries import ConfigError
        from extrapbench.config.validate import check_config
        from extrapbench.registry import BACKBONES
        config = yaml.safe_load(open({str(REPO / 'config' / 'demo.yaml')!r}))
        config["backbones"] = {{"tiny_net": {{"width": 4}}, "magpie_mlp": {{}}}}
        print(check_config(config, {str(SCHEMA)!r})["backbone_input_kinds"])
        print(BACKBONES.get("tiny_net").__module__, BACKBONES.get("magpie_mlp").__module__)
        config["backbones"]["tiny_net"]["width"] = 1
        try:
            check_config(config, {str(SCHEMA)!r}, "my.yaml")
        except ConfigError as exc:
            print(str(exc).splitlines()[1])
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "{'tiny_net': 'composition', 'magpie_mlp': 'composition'}",
        "tiny_plugin extrapbench.backbones.magpie_mlp",
        "  - at 'backbones.tiny_net.width': 1 is not allowed; expected an integer >= 2"]


def test_the_example_trains_through_the_workflow(tmp_path):
    """config/example_plugin.yaml, as the manual says to run it, in a fresh --directory: the outside backbone
    (its own featurizer) and the outside method train, are evaluated and tabulated, and the runs' provenance names
    the outside classes and their source."""
    config = {**EXAMPLE, "data_home": str(SHIPPED_DATA_HOME)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "config.yaml")],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-5000:]
    for backbone in ("fractions", "magpie_mlp"):
        for method in ("erm", "huber"):
            run = tmp_path / f"results/runs/phonons_top/{backbone}/{method}/seed0"
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["mae"] > 0, (backbone, method)
            record = json.loads((run / "provenance.json").read_text())
            assert record["backbone"] == backbone and record["method"] == method
    record = json.loads((tmp_path / "results/runs/phonons_top/fractions/huber/seed0/provenance.json").read_text())
    assert record["registered_backbone"] == "my_backbone:ElementFractionMLP"
    assert record["classes"]["backbone"]["class"] == "my_backbone:ElementFractionMLP"
    assert record["classes"]["backbone"]["file"] == str(EXAMPLES / "my_backbone.py")
    assert record["classes"]["method"]["class"] == "my_method:HuberRegression"
    assert record["config"]["backbone"] == {"hidden_dim": 64, "out_dim": 32}  # `class:` is not a hyper-parameter
    erm = json.loads((tmp_path / "results/runs/phonons_top/magpie_mlp/erm/seed0/provenance.json").read_text())
    assert erm["classes"]["backbone"] == {"class": "extrapbench.backbones.magpie_mlp:MagpieMLP"}
    assert "fractions" in (tmp_path / "results/tables/mae_all_methods.md").read_text()
