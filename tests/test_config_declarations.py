"""The config check reads each plug-in's declaration from its source, so it never imports torch; what it reads is
exactly what the imported classes declare."""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import yaml

from extrapbench.config.entries import ConfigError
from extrapbench.config.validate import check_config
from extrapbench.declarations import Declaration, DeclarationError, SourceDeclarations
from extrapbench.registry import BACKBONES, METHODS, REFERENCES

from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_the_facts_the_workflow_needs():
    facts = check_config(DEMO, SCHEMA, "demo.yaml")
    assert facts["backbone_input_kinds"] == {"magpie_mlp": "composition"}
    assert facts["references"]["edge_train"] == {"needs_features": False, "needs_side": True}
    assert facts["references"]["random_forest"] == {"needs_features": True, "needs_side": False}


def test_a_bad_value_is_named_with_the_file_and_key():
    bad = copy.deepcopy(DEMO)
    bad["methods"]["mex"]["num_candidates"] = 0
    with pytest.raises(ConfigError, match=r"(?s)my\.yaml.*methods\.mex\.num_candidates.*integer >= 1"):
        check_config(bad, SCHEMA, "my.yaml")


@pytest.mark.parametrize("registry", [METHODS, BACKBONES, REFERENCES], ids=lambda r: r.kind)
def test_every_declaration_read_from_source_equals_the_imported_class(registry):
    names = registry.declared_names()
    assert len(names) >= 4
    for name in names:
        assert registry.declaration(name) == Declaration.of_class(name, registry.get(name)), name


def test_reading_the_declarations_imports_no_torch():
    code = ("import sys; from extrapbench.registry import BACKBONES, METHODS, REFERENCES\n"
            "[r.declaration(n) for r in (BACKBONES, METHODS, REFERENCES) for n in r.declared_names()]\n"
            "print(sorted({'torch', 'scipy', 'torch_geometric'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_inheritance_constants_and_constructor_defaults(tmp_path):
    """What the built-ins use: a base class's declaration, a module constant imported from a sibling, a backbone's
    keyword defaults; and code in a declaration is refused, naming the file and attribute."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "base.py").write_text("KINDS = ('a', 'b')\nclass Base:\n    defaults = {'x': 1}\n"
                                     "    hparam_specs = {'x': Integer(min=1)}\n")
    (package / "child.py").write_text(textwrap.dedent("""
        from extrapbench.hparams import Choice
        @REG.register("child")
        class Child(Base):
            defaults = {**Base.defaults, "kind": "a"}
            hparam_specs = {**Base.hparam_specs, "kind": Choice("a", "b")}
        @REG.register("net")
        class Net:
            input_kind = "graph"
            def __init__(self, in_dim, width=64, depth=3, **extra):
                pass
        """))
    declared = SourceDeclarations(package, "plugins", "REG").declarations
    assert declared["child"].defaults == {"x": 1, "kind": "a"}
    assert declared["child"].hparam_specs["kind"].check("c") is not None
    assert declared["child"].hparam_specs["x"].check(0) is not None
    assert declared["net"].defaults == {"width": 64, "depth": 3}
    assert declared["net"].open_keywords and declared["net"].input_kind == "graph"
    (package / "bad.py").write_text("@REG.register('bad')\nclass Bad:\n    defaults = make_defaults()\n")
    with pytest.raises(DeclarationError, match=r"bad\.py:3: Bad\.defaults must be a literal"):
        SourceDeclarations(package, "plugins", "REG").declarations


def test_planning_the_workflow_never_imports_torch_in_snakemakes_process(tmp_path):
    """python -X importtime lists every module the Snakemake process imports: the config check is among them,
    torch is not."""
    config = {**DEMO, "data_home": str(REPO / "data" / "matminer")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--quiet", "-s",
                             str(REPO / "workflow" / "Snakefile"), "-d", str(tmp_path), "--configfile",
                             str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "snakemake" in imported and "extrapbench.config.validate" in imported
    assert not {"torch", "scipy", "torch_geometric"} & imported
