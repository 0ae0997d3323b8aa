"""Validate the workflow config once per (config, code), and what the workflow needs from the registries.

The registry checks (hyper-parameter names and values, backbone input kinds) import the method and backbone
modules, and so torch: 1.3 s and 220 MB, paid by every `snakemake` invocation (a dry run, `make figures`, and on
a cluster every job, which parses the Snakefile again). Their result depends only on the config and the
library's code, so it is stored under the working directory's `.snakemake/` with a key over both: the next
parse of the same config with the same code reads a small JSON file and imports no torch. An edit of the config
or of any file of the package (a method's hyper-parameter declaration, say) changes the key and checks anew; a
config with errors is never stored, so it fails every time, naming what is wrong. The first check runs in a child
process, so that Snakemake's own process never holds torch (a dry run of the full grid stays near 330 MB).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

from extrapbench.config.entries import ConfigError, backbone_entry, load_yaml_file, reference_entry, schema_errors
from extrapbench.config.checks import path_errors, registry_errors

PACKAGE = Path(__file__).resolve().parent
#: bumped when the facts stored change shape
FACTS_VERSION = 2


def code_fingerprint(schema_path: str | Path) -> str:
    """sha256 over every source file of the package and the schema, by path and content."""
    digest = hashlib.sha256(Path(schema_path).read_bytes())
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(f"\n{path.relative_to(PACKAGE)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _typed_keys(value: Any) -> Any:
    """The config with every mapping key tagged by its type: YAML allows int and str keys side by side, which
    json.dumps(sort_keys=True) cannot order, and 1 and "1" must not give the same key."""
    if isinstance(value, dict):
        return {f"{type(k).__name__}:{k}": _typed_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_typed_keys(v) for v in value]
    return value


def config_key(config: Dict[str, Any], schema_path: str | Path) -> str:
    text = json.dumps(_typed_keys(config), sort_keys=True, default=repr)
    return hashlib.sha256(f"{FACTS_VERSION}\n{code_fingerprint(schema_path)}\n{text}".encode()).hexdigest()[:32]


def registry_facts(config: Dict[str, Any]) -> Dict[str, Any]:
    """What the Snakefile needs to know of the configured entries: each backbone's input kind, and whether each
    reference predictor reads Magpie features / needs a split with a held-out side."""
    from extrapbench.config.entries import configured_references
    from extrapbench.registry import BACKBONES, REFERENCES

    references = {}
    for name, params in configured_references(config).items():
        cls = REFERENCES.get(reference_entry(name, params)[0])
        references[name] = {"needs_features": bool(cls.needs_features), "needs_side": bool(cls.needs_side)}
    return {"backbone_input_kinds": {name: BACKBONES.get(backbone_entry(name, params)[0]).input_kind
                                     for name, params in (config.get("backbones") or {}).items()},
            "references": references}


def check_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config",
                 cache_dir: str | Path | None = None) -> Dict[str, Any]:
    """Validate `config` (the schema, then the registries; every problem at once, each naming `source` and the
    key) and return its registry facts. With `cache_dir`, a config already found valid with this code is not
    checked again. Raises ConfigError."""
    schema = load_yaml_file(schema_path)
    messages = schema_errors(config, schema)
    if messages:
        raise ConfigError(f"invalid config {source}:\n  - " + "\n  - ".join(messages))
    # the file system's answers are never remembered: checked on every parse, reported with the registry's
    on_disk = path_errors(config)
    cached = Path(cache_dir) / f"{config_key(config, schema_path)}.json" if cache_dir is not None else None
    if cached is not None and cached.is_file() and not on_disk:
        try:
            return json.loads(cached.read_text())
        except (OSError, ValueError):
            pass  # unreadable (a crash mid-write elsewhere): check again
    if cached is None:
        messages, facts = _registry_check(config, schema)
    else:
        messages, facts = _registry_check_in_child(config, schema_path)
    messages = on_disk + messages
    if messages:
        raise ConfigError(f"invalid config {source}:\n  - " + "\n  - ".join(messages))
    if cached is not None:
        _write_atomically(cached, json.dumps(facts, indent=1, sort_keys=True))
    return facts


def _registry_check(config: Dict[str, Any], schema: Dict[str, Any]) -> tuple[list, dict]:
    messages = registry_errors(config, schema)
    return messages, ({} if messages else registry_facts(config))


def _registry_check_in_child(config: Dict[str, Any], schema_path: str | Path) -> tuple[list, dict]:
    """_registry_check in a fresh interpreter (this package, the config pickled through stdin): the imports it
    needs (torch, the method and backbone modules) end with it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE.parent),
                                                                     os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "extrapbench.config.validate", str(schema_path)],
                            input=pickle.dumps(config), capture_output=True, env=env)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise ConfigError("checking the config against the method / backbone registries failed:\n  "
                          + "\n  ".join(tail))
    answer = json.loads(result.stdout)
    return answer["errors"], answer["facts"]


def _write_atomically(path: Path, text: str) -> None:
    """Concurrent parses (cluster jobs) may write the same entry: each writes a temporary file and renames it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only working directory: the check is simply not remembered


def validate_config(config: Dict[str, Any], schema_path: str | Path, source: str = "config") -> None:
    """The schema, then (on a structurally valid config) the registries; raises ConfigError naming every
    problem. (The workflow calls extrapbench.checked_config.check_config, which remembers a valid config.)"""
    check_config(config, schema_path, source)


if __name__ == "__main__":  # _registry_check_in_child's child: config pickled on stdin, the answer as JSON
    errors, facts = _registry_check(pickle.load(sys.stdin.buffer), load_yaml_file(sys.argv[1]))
    print(json.dumps({"errors": errors, "facts": facts}))
