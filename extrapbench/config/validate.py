"""Validate the workflow config, and what the workflow needs to know of its plug-ins, in Snakemake's own process.

The schema first; then, on a structurally valid config, the checks against the registries and the file system
(extrapbench.config.checks), every problem at once, each naming the config file and the key. The registry checks
read each plug-in's declaration from its source (extrapbench.declarations) and import no plug-in module, so no
torch: a parse (a dry run, `make figures`, every cluster job) stays light, and nothing needs remembering between
parses.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

from extrapbench.config.checks import path_errors, registry_errors
from extrapbench.config.dataset_checks import dataset_errors
from extrapbench.config.entries import (ConfigError, backbone_entry, config_size_error, configured_references,
                                        load_yaml_file, reference_entry)
from extrapbench.config.schema import schema_errors
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


def _set_by(overrides: Dict[str, Any], message: str) -> bool:
    """Whether the key a message names (`at 'a.b.c': ...`) holds a value of `overrides` (mappings merge key by key,
    so `a.b.c` is an override's where the override sets `a`, or `a.b` to a non-mapping, or `a.b.c`)."""
    match = re.match(r"at '([^']*)'", message)
    if not match or match.group(1) == "<top level>":
        return False
    value = overrides
    for part in match.group(1).split("."):
        if not isinstance(value, dict):
            return True
        if part not in value:
            return False
        value = value[part]
    return True


def _invalid(source: str, messages: list[str], overrides: Dict[str, Any] | None) -> ConfigError:
    """One ConfigError for every message: those at a key `overrides` (Snakemake's --config) set, as --config's."""
    given = [m for m in messages if overrides and _set_by(overrides, m)]
    rest = [m for m in messages if m not in given]
    parts = [f"invalid config {source}:\n  - " + "\n  - ".join(rest)] if rest else []
    if given:
        keys = " ".join(f"{key}=..." for key in overrides)
        parts.append(f"invalid value given with --config ({keys}, over {source}):\n  - " + "\n  - ".join(given))
    return ConfigError("\n".join(parts))


def check_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config",
                 overrides: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """Validate `config` (its size first, config_size_error; the schema, then the registries and the file system;
    every problem at once, each naming `source` and the key) and return its registry facts. Raises ConfigError.
    `overrides`: the values of Snakemake's --config, already merged into `config`; a problem at a key they set is
    reported as --config's, not `source`'s."""
    if (message := config_size_error(config, source)) is not None:
        raise ConfigError(message)
    schema = load_yaml_file(schema_path)
    messages = schema_errors(config, schema)
    if messages:
        raise _invalid(source, messages, overrides)
    messages = path_errors(config) + dataset_errors(config) + registry_errors(config, schema)
    if messages:
        raise _invalid(source, messages, overrides)
    return registry_facts(config)


def validate_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config") -> None:
    """check_config without the facts: raises ConfigError naming every problem."""
    check_config(config, schema_path, source)
