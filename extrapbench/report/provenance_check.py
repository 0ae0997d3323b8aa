"""Whether each run a table or figure reads is a run of the config it is made for.

A trained run's provenance.json records the whole config it was trained under (``config.resolved``). What that
config fixes for the run — its backbone entry, its method entry, its training settings (layered as the run got
them), the graph settings of a graph backbone and, for a method with a selection grid, the grid and its seed — is
read from the recorded config and from the current one by the same function, :func:`run_settings`, and the two
are compared key by key. What a selection *chose* is never compared: a key the grid covers never reaches a run
with its configured value (the chosen grid point replaces it), so grid keys are left out of the method's and the
training settings and the grid itself is compared instead. Declared defaults are filled in on both sides, so
``mex: {}`` and ``mex: {lambda_abs: 0.25}`` are the same settings. A reference predictor's run records its
hyper-parameters (``config.reference``); they are compared with its ``references:`` entry.

A run whose settings differ is *stale*: the tables would set it beside runs of the current settings as if they
were one experiment. :func:`stale_runs` lists them; :class:`StaleRunsError` says, one line per run, its folder and
each differing key (old → new).
"""
from __future__ import annotations

import json
import os
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from extrapbench.config.entries import (METHOD_TRAIN_KEYS, backbone_entry, canonical, configured_references,
                                        method_entry, reference_entry, train_settings)
from extrapbench.config.selection import grid_points
from extrapbench.config.train_settings import TrainConfig
from extrapbench.registry import ALIAS_KEYS, declared_defaults

#: how a key absent on one side is shown
NOT_SET = "(not set)"
#: the config key that lets the tables draw stale runs
ALLOW_KEY = "report.allow_stale_runs"


def _declared_defaults(kind: str, registered: str) -> dict:
    """A plug-in's declared defaults (read from its source, nothing imported); {} for one that cannot be found
    (a plug-in that is gone: its configured values are compared as they are)."""
    try:
        return declared_defaults(kind, registered)
    except (KeyError, ImportError, ValueError):
        return {}


def _entry(kind: str, name: str, registered: str, params: Mapping[str, Any]) -> dict:
    """A configured entry with its declared defaults filled in; a variant also names its class (its alias key)."""
    entry = {**_declared_defaults(kind, registered), **params}
    if registered != name:
        entry[ALIAS_KEYS[kind]] = registered
    return entry


TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not NO_DEFAULT}


def selection_grid(config: Mapping[str, Any], method: str) -> dict:
    """{key: values} of the method's selection grid (`selection.grid` with `selection.methods.<method>` on top),
    or {} when it has no grid of more than one point (then the configured values train directly)."""
    selection = config.get("selection") or {}
    common, own = selection.get("grid") or {}, (selection.get("methods") or {}).get(method) or {}
    if len(grid_points(common, own)) <= 1:
        return {}
    return {**common, **own}


def run_settings(config: Mapping[str, Any], task: str, backbone: str, method: str,
                 graph_backbones: Iterable[str] = ()) -> dict:
    """What `config` fixes for the run (task, backbone, method), nested as the config is: ``backbones.<b>``,
    ``methods.<m>`` (without its training settings and the grid's keys), ``train`` (the layered settings of
    extrapbench.config.entries.train_settings with the library's defaults, without the grid's keys), ``graph``
    (graph backbones only) and ``selection`` (``seed`` and ``grid``, methods with a grid only)."""
    grid = selection_grid(config, method)
    backbones, methods = config.get("backbones") or {}, config.get("methods") or {}
    registered_backbone, backbone_params = backbone_entry(backbone, backbones.get(backbone))
    registered_method, method_params = method_entry(method, methods.get(method))
    method_settings = _entry("method", method, registered_method, method_params)
    train = {**TRAIN_DEFAULTS, **train_settings({"train": {}, **config}, backbone, method, task)}
    settings = {
        "backbones": {backbone: _entry("backbone", backbone, registered_backbone,
                                       backbone_params)},
        "methods": {method: {k: v for k, v in method_settings.items() if k not in grid and k not in METHOD_TRAIN_KEYS}},
        "train": {k: v for k, v in train.items() if k not in grid},
    }
    if backbone in set(graph_backbones):
        settings["graph"] = dict(config.get("graph") or {})
    if grid:
        settings["selection"] = {"seed": (config.get("selection") or {}).get("seed", 0), "grid": grid}
    return canonical(settings)


def reference_settings(config: Mapping[str, Any], reference: str) -> dict:
    """What `config` fixes for a reference predictor's runs: ``references.<name>`` with its defaults."""
    registered, params = reference_entry(reference, configured_references(dict(config)).get(reference))
    return canonical({"references": {reference: _entry("reference predictor", reference, registered,
                                                       params)}})


def recorded_reference_settings(record: Mapping[str, Any]) -> dict:
    """A reference run's hyper-parameters as its provenance records them (defaults filled in when it ran)."""
    name, registered = record.get("method"), record.get("registered_method") or record.get("method")
    params = dict((record.get("config") or {}).get("reference") or {})
    return canonical({"references": {name: _entry("reference predictor", name, registered, params)}})


def differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every key whose value differs; mappings are compared key by key,
    any other value (a list included) as a whole. A key on one side only has NOT_SET on the other."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found = []
        for key in sorted(set(old) | set(new), key=lambda k: (type(k).__name__, str(k))):
            found += differences(old.get(key, NOT_SET), new.get(key, NOT_SET), f"{prefix}{key}.")
        return found
    # 1 and 1.0 are one value (YAML spells a number either way); true and 1 are not
    if isinstance(old, bool) == isinstance(new, bool) and canonical(old) == canonical(new):
        return []
    return [(prefix.rstrip("."), old, new)]


def show_value(value: Any) -> str:
    """A value as the config would spell it (JSON, strings bare)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


@dataclass(frozen=True)
class StaleRun:
    """A run whose recorded settings differ from the config's. `folder`: where its provenance.json lies (a grid
    point: the selection job's folder and the point); `kind`: "run", "reference" or "grid point"."""

    folder: str
    task: str | None
    backbone: str | None
    method: str | None
    seed: int | None
    kind: str
    differences: tuple

    def describe_differences(self) -> str:
        return "; ".join(f"{key} {show_value(old)} → {show_value(new)}" for key, old, new in self.differences)

    def line(self) -> str:
        """``<folder>: <key> <old> → <new>; ...``."""
        return f"{self.folder}: {self.describe_differences()}"

    def to_json(self) -> dict:
        return {"folder": self.folder, "task": self.task, "backbone": self.backbone, "method": self.method,
                "seed": self.seed, "kind": self.kind,
                "differences": [{"key": k, "old": o, "new": n} for k, o, n in self.differences]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StaleRun":
        return cls(data["folder"], data.get("task"), data.get("backbone"), data.get("method"), data.get("seed"),
                   data.get("kind", "run"),
                   tuple((d["key"], d.get("old"), d.get("new")) for d in data.get("differences") or ()))


def _read_json(path) -> dict:
    with open(path) as handle:
        return json.load(handle)


def _trained_run(record: Mapping[str, Any], folder: str, kind: str, config: Mapping[str, Any],
                 graph_backbones: Sequence[str]) -> StaleRun | None:
    task, backbone, method = record.get("task"), record.get("backbone"), record.get("method")
    new = run_settings(config, task, backbone, method, graph_backbones)
    recorded = (record.get("config") or {}).get("resolved")
    if not recorded:  # trained outside the workflow, or before runs recorded their config
        found = [("config", "(not recorded by the run)", "(this config's settings)")]
    else:
        found = differences(run_settings(recorded, task, backbone, method, graph_backbones), new)
    if not found:
        return None
    return StaleRun(folder, task, backbone, method, record.get("seed"), kind, tuple(found))


def stale_runs(provenance_paths: Iterable[str | os.PathLike], config: Mapping[str, Any],
               graph_backbones: Sequence[str] = ()) -> list[StaleRun]:
    """Every run among the provenance.json files `provenance_paths` (a trained run's, a reference predictor's
    (``role: reference``) or a selection job's, which holds its grid points' records under ``points``) whose
    settings differ from `config`'s, in the order given. `graph_backbones`: the backbones that read graphs (their
    runs also compare `graph`)."""
    found = []
    for path in provenance_paths:
        record = _read_json(path)
        folder = str(Path(path).parent)
        if "points" in record:
            for point, point_record in record["points"].items():
                stale = _trained_run(point_record, f"{folder} ({point})", "grid point", config, graph_backbones)
                if stale is not None:
                    found.append(stale)
        elif record.get("role") == "reference":
            new = reference_settings(config, record["method"])
            changed = differences(recorded_reference_settings(record), new)
            if changed:
                found.append(StaleRun(folder, record.get("task"), None, record.get("method"), record.get("seed"),
                                      "reference", tuple(changed)))
        else:
            stale = _trained_run(record, folder, "run", config, graph_backbones)
            if stale is not None:
                found.append(stale)
    return found


class StaleRunsError(ValueError):
    """Runs the config no longer describes, one line each. Its message keeps its lines on the console
    (extrapbench.jobs.logs.console_line reads ``keeps_lines``)."""

    keeps_lines = True

    def __init__(self, runs: Sequence[StaleRun], config_files: Sequence[str]):
        self.runs = list(runs)
        names = ", ".join(f"`{name}`" for name in config_files) or "(no config file)"
        lines = [f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} trained with other settings than "
                 f"config {names} gives {'them' if len(self.runs) != 1 else 'it'} (the run's → the config's), so no "
                 f"table or figure is made:"]
        lines += [f"  {run.line()}" for run in self.runs]
        lines.append(f"Retrain them (a plain `snakemake --configfile {' '.join(config_files) or '<config>'}` "
                     f"does), put the old settings back, or set `{ALLOW_KEY}: true` in the config to draw them "
                     f"anyway, marked as stale in every table and figure.")
        super().__init__("\n".join(lines))
