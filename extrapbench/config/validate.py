"""Validate the workflow config, and what the workflow needs to know of its plug-ins, in Snakemake's own process.

The schema first; then, on a structurally valid config, the checks against the registries and the file system
(extrapbench.config.checks), every problem at once, each naming the config file and the key. The registry checks
read each plug-in's declaration from its source (extrapbench.declarations) and import no plug-in module, so no
torch: a parse (a dry run, `make figures`, every cluster job) stays light, and nothing needs remembering between
parses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from extrapbench.config.checks import path_errors, registry_errors
from extrapbench.config.entries import (ConfigError, backbone_entry, configured_references, load_yaml_file,
                                        reference_entry, schema_errors)
from extrapbench.registry import BACKBONES, REFERENCES


def registry_facts(config: Dict[str, Any]) -> Dict[str, Any]:
    """What the Snakefile needs to know of the configured entries: each backbone's input kind, and whether each
    reference predictor reads Magpie features / needs a split with a held-out side."""
    references = {}
    for name, params in configured_references(config).items():
        declared = REFERENCES.declaration(reference_entry(name, params)[0])
        references[name] = {"needs_features": declared.needs_features, "needs_side": declared.needs_side}
    return {"backbone_input_kinds": {name: BACKBONES.declaration(backbone_entry(name, params)[0]).input_kind
                                     for name, params in (config.get("backbones") or {}).items()},
            "references": references}


def check_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config") -> Dict[str, Any]:
    """Validate `config` (the schema, then the registries and the file system; every problem at once, each naming
    `source` and the key) and return its registry facts. Raises ConfigError."""
    schema = load_yaml_file(schema_path)
    messages = schema_errors(config, schema)
    if messages:
        raise ConfigError(f"invalid config {source}:\n  - " + "\n  - ".join(messages))
    messages = path_errors(config) + registry_errors(config, schema)
    if messages:
        raise ConfigError(f"invalid config {source}:\n  - " + "\n  - ".join(messages))
    return registry_facts(config)


def validate_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config") -> None:
    """check_config without the facts: raises ConfigError naming every problem."""
    check_config(config, schema_path, source)
