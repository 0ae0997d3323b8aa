"""The config checks that need the registries (extrapbench.registry) or the file system, after the schema:
every problem at once, each naming the key and what was expected (extrapbench.config.validate runs them). A
plug-in's hyper-parameters are checked against its declaration (extrapbench.declarations), read without importing
it, so no check imports torch. The config's own helpers (entries, training settings, loading) are in
extrapbench.config.entries."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from extrapbench.config.entries import (ABLATION_REFERENCE, METHOD_TRAIN_KEYS, RANDOM_TWIN_SUFFIX, backbone_entry,
                                       configured_references, in_distribution_settings, method_entry,
                                       normalise_ablations, reference_entry)
from extrapbench.config.schema import schema_errors


def registry_errors(config: Dict[str, Any], schema: Dict[str, Any] | None = None) -> List[str]:
    from extrapbench.hparams import check_all
    from extrapbench.registry import BACKBONES, METHODS
    from extrapbench.tasks import get_tasks

    from extrapbench.registry import SPLITS

    messages = []
    tasks = get_tasks(config.get("task_definitions"))
    for key in ("tasks", "other_split_tasks"):
        for task in config.get(key) or []:
            if task not in tasks:
                messages.append(f"at '{key}': unknown task {task!r}; known tasks: {', '.join(tasks)}")
    both = set(config.get("tasks") or []) & set(config.get("other_split_tasks") or [])
    if both:
        messages.append(f"at 'other_split_tasks': {sorted(both)} also listed under 'tasks'; list a task once")
    if not (config.get("tasks") or config.get("other_split_tasks")):
        messages.append("at 'tasks': no task selected; list at least one under 'tasks' or 'other_split_tasks'")
    for task_id, spec in (config.get("task_definitions") or {}).items():
        try:
            SPLITS.get(spec["split"])  # split kinds are functions of numpy / pandas: imported
        except KeyError as exc:
            messages.append(f"at 'task_definitions.{task_id}.split': {exc.args[0]}")
    for kind, registry in (("backbones", BACKBONES), ("methods", METHODS)):
        for name, params in (config.get(kind) or {}).items():
            messages += class_key_errors(registry, kind, name, params)
            registered, params = registry.resolve(name, params, drop=METHOD_TRAIN_KEYS)
            cls = _registered_class(registry, kind, name, registered, messages)
            if cls is None:
                continue
            if kind == "backbones":
                messages += input_kind_errors(name, registered, cls)
            known = set(cls.defaults)
            if cls.open_keywords:  # a backbone taking **kwargs: any key may be meant for it
                continue
            for key in sorted(set(params) - known):
                messages.append(f"at '{kind}.{name}': unknown hyper-parameter {key!r}; known: {sorted(known)}")
            # the values: type and range as the module declares them (extrapbench.hparams)
            messages += check_all(cls, {k: v for k, v in params.items() if k in known}, f"{kind}.{name}")
    messages += train_override_errors(config, tasks)
    messages += reference_errors(config, tasks)
    messages += unrunnable_task_errors(config, tasks)
    messages += selection_errors(config, schema)
    return messages


def class_key_errors(registry, kind: str, name: str, entry) -> List[str]:
    """An entry naming its class twice: `class:` (outside the package) and the alias key (a registered one)."""
    from extrapbench.registry import CLASS_KEY

    if isinstance(entry, dict) and CLASS_KEY in entry and registry.alias_key in entry:
        return [f"at '{kind}.{name}': both {CLASS_KEY!r} ({entry[CLASS_KEY]}) and {registry.alias_key!r} "
                f"({entry[registry.alias_key]}) name its class; keep one"]
    return []


def input_kind_errors(name: str, registered: str, declared) -> List[str]:
    """A backbone's input kind must be one the training run can feed (extrapbench.declarations.INPUT_KINDS); a
    "features" backbone computes its own, so it needs `featurize(table)` callable on the class."""
    import inspect

    from extrapbench.declarations import INPUT_KINDS
    from extrapbench.registry import BACKBONES

    if declared.input_kind not in INPUT_KINDS:
        return [f"at 'backbones.{name}': {registered} declares input_kind {declared.input_kind!r}; expected one of "
                f"{', '.join(INPUT_KINDS)}"]
    if declared.input_kind == "features":
        featurize = inspect.getattr_static(BACKBONES.get(registered), "featurize", None)
        if not isinstance(featurize, (classmethod, staticmethod)):
            return [f"at 'backbones.{name}': {registered} declares input_kind 'features' but has no classmethod "
                    f"or staticmethod featurize(table) -> array [materials, features]"]
    return []


def _registered_class(registry, kind: str, name: str, registered: str, messages: List[str]):
    """The class a config entry names, or None with the registry's message (naming the entry) appended."""
    try:
        return registry.declaration(registered)
    except KeyError as exc:
        messages.append(f"at '{kind}.{name}': {exc.args[0]}" if registered != name else f"at '{kind}': {exc.args[0]}")
        return None


def train_override_errors(config: Dict[str, Any], tasks) -> List[str]:
    """Overrides that would silently do nothing: a backbone or task name that is not configured / known.
    (Their keys and values are checked by the schema, against the same definition as `train`.)"""
    messages = []
    for backbone in config.get("train_overrides") or {}:
        if backbone not in (config.get("backbones") or {}):
            messages.append(f"at 'train_overrides.{backbone}': {backbone!r} is not one of the configured "
                            f"backbones {sorted(config.get('backbones') or {})}")
    for method, entry in (config.get("methods") or {}).items():
        for task in ((entry or {}).get("train_by_task") or {}):
            if task not in tasks:
                messages.append(f"at 'methods.{method}.train_by_task.{task}': unknown task {task!r}; known "
                                f"tasks: {', '.join(tasks)}")
    # an ablation (or its reference) that is not a configured entry would silently stay in the ranked tables
    ablations = config.get("ablations") or []
    pairs = ablations.items() if isinstance(ablations, dict) else ((name, None) for name in ablations)
    methods = config.get("methods") or {}
    for entry, reference in pairs:
        for name, role in ((entry, "entry"), (reference, "reference")):
            if name is not None and name not in methods:
                messages.append(f"at 'ablations': {role} {name!r} is not one of the configured methods "
                                f"{sorted(methods)}")
    return messages + ablation_cycle_errors(config)


def ablation_cycle_errors(config: Dict[str, Any]) -> List[str]:
    """An ablation must be compared with something else: not with itself (`ablations: [erm]`, whose listed entries
    are compared with ERM, or `{fds: fds}`), and not only with other ablations in a loop (`{a: b, b: a}`), which
    would leave each without a ranked reference. The references are found as extrapbench.report.method_sets
    finds them: the mapping's value, else the entry a variant's `method:` names, else ERM."""
    methods = config.get("methods") or {}
    listed = not isinstance(config.get("ablations"), dict)
    references = {}
    for name, reference in normalise_ablations(config.get("ablations")).items():
        if reference is None:
            registered = method_entry(name, methods.get(name))[0]
            reference = registered if registered != name and registered in methods else (
                ABLATION_REFERENCE if ABLATION_REFERENCE in methods else None)
        references[name] = reference
    messages, seen_cycles = [], set()
    for start in references:
        chain, current = [start], references[start]
        while current in references and current not in chain:
            chain.append(current)
            current = references[current]
        if current != start or frozenset(chain) in seen_cycles:
            continue
        seen_cycles.add(frozenset(chain))
        first = chain.index(min(chain))  # the same cycle reads the same whichever entry it was found from
        chain = chain[first:] + chain[:first]
        if len(chain) == 1:
            how = ("a listed entry is compared with the entry its `method:` names, else with ERM; name another "
                   f"reference with the mapping form, e.g. `ablations: {{{start}: <entry>}}`, or drop it"
                   if listed else "name another entry as its reference, or drop it")
            messages.append(f"at 'ablations': {start!r} would be its own reference ({how})")
        else:
            messages.append(f"at 'ablations': the references form a cycle {' -> '.join(chain + chain[:1])}; each "
                            f"ablation is compared with its reference, so one entry of the cycle must be a ranked "
                            f"method: drop it from `ablations` or give it a reference outside the cycle")
    return messages


def reference_errors(config: Dict[str, Any], tasks) -> List[str]:
    """Reference entries that the registry does not know or whose values are wrong, a reference named like a
    method (their run folders would collide), in-distribution methods that are not configured, and random
    twins whose names are taken by another task."""
    from extrapbench.hparams import check_all
    from extrapbench.registry import REFERENCES

    messages = []
    methods = config.get("methods") or {}
    for name, params in configured_references(config).items():
        messages += class_key_errors(REFERENCES, "references", name, params)
        registered, params = reference_entry(name, params)
        cls = _registered_class(REFERENCES, "references", name, registered, messages)
        if cls is None:
            continue
        if name in methods:
            messages.append(f"at 'references.{name}': {name!r} is also a method entry; a reference and a method "
                            f"share the run folders results/runs/<task>/<backbone>/<name>: rename one")
        for key in sorted(set(params) - set(cls.defaults)):
            messages.append(f"at 'references.{name}': unknown hyper-parameter {key!r}; known: "
                            f"{sorted(cls.defaults)}")
        messages += check_all(cls, {k: v for k, v in params.items() if k in cls.defaults}, f"references.{name}")
    for method in in_distribution_settings(config)["methods"]:
        if method not in methods:
            messages.append(f"at 'in_distribution.methods': {method!r} is not one of the configured methods "
                            f"{sorted(methods)}")
    selected = [*(config.get("tasks") or []), *(config.get("other_split_tasks") or [])]
    for task_id in config.get("tasks") or []:
        twin = f"{task_id}{RANDOM_TWIN_SUFFIX}"
        if in_distribution_settings(config)["methods"] and (twin in selected or twin in (config.get(
                "task_definitions") or {})):
            messages.append(f"at 'in_distribution': the random twin of task {task_id!r} is named {twin!r}, which is "
                            f"already a task of this config; rename that task or set in_distribution: null")
    return messages


def path_errors(config: Dict[str, Any]) -> List[str]:
    """A data folder that is an existing file (say, the dataset file itself) would fail in the download job with
    NotADirectoryError; say so before any job. A folder that does not exist yet is fine: it is made. Checked on
    every parse (not remembered with the registry check: the file system changes, the config may not)."""
    messages = []
    for key in ("data_home", "ane_data_home"):
        value = config.get(key)
        if isinstance(value, str) and value and Path(value).expanduser().is_file():
            resolved = str(Path(value).expanduser().resolve())
            shown = value if resolved == value else f"{value} ({resolved})"
            messages.append(f"at '{key}': {shown} is a file, expected a folder (where the dataset files are "
                            f"found or downloaded into)")
    return messages


def unrunnable_task_errors(config: Dict[str, Any], tasks) -> List[str]:
    """A selected task that no configured backbone can run (a composition-only dataset with graph backbones
    only) would silently produce nothing: say so instead."""
    from extrapbench.data.errors import DatasetUnavailableError
    from extrapbench.data.sources import has_structures
    from extrapbench.registry import BACKBONES

    kinds = set()
    for name, params in (config.get("backbones") or {}).items():
        try:
            kinds.add(BACKBONES.declaration(backbone_entry(name, params)[0]).input_kind)
        except KeyError:
            return []  # unknown backbone: already reported
    messages = []
    for key in ("tasks", "other_split_tasks"):
        for task_id in config.get(key) or []:
            if task_id not in tasks or kinds - {"graph"}:  # a composition or own-features backbone runs it
                continue
            try:
                with_structures = has_structures(config, tasks[task_id].dataset)
            except DatasetUnavailableError:
                continue  # an unknown dataset: extrapbench.config.dataset_checks says so
            if not with_structures:
                messages.append(f"at '{key}': task {task_id!r} is composition only (dataset "
                                f"{tasks[task_id].dataset!r} has no structures) and none of the configured "
                                f"backbones {sorted(config['backbones'])} takes compositions; add one (e.g. "
                                f"magpie_mlp) or drop the task")
    return messages


def selection_errors(config: Dict[str, Any], schema: Dict[str, Any] | None = None) -> List[str]:
    """Grid keys must be training settings or hyper-parameters of the methods they apply to, and every value in
    a grid must be allowed for its key: a training setting by the schema's `train` definition, a hyper-parameter
    by the method's declaration (extrapbench.hparams)."""
    from extrapbench.hparams import check_value, describe_value
    from extrapbench.registry import METHODS
    from extrapbench.config.selection import train_keys

    selection = config.get("selection") or {}
    methods = config.get("methods") or {}
    messages = []

    def method_class(entry):
        try:
            return METHODS.declaration(method_entry(entry, methods[entry])[0])
        except KeyError:
            return None  # already reported

    def known_keys(entry):
        cls = method_class(entry)
        return None if cls is None else train_keys() | set(cls.defaults)

    def value_errors(where, key, values, entries):
        out = []
        for i, value in enumerate(values):
            at = f"at '{where}.{key}[{i}]'"
            if key in train_keys():
                if schema is not None:
                    out += [f"{at}: {m.split(': ', 1)[1]}" for m in
                            schema_errors({key: value}, {**schema["definitions"]["train_settings"],
                                                         "definitions": schema.get("definitions", {})})]
                continue
            for entry in entries:
                cls = method_class(entry)
                expected = check_value(cls, key, value) if cls is not None and key in cls.defaults else None
                if expected is not None:
                    out.append(f"{at}: {describe_value(value)} is not allowed for {entry}; expected {expected}")
        return out

    for entry, grid in (selection.get("methods") or {}).items():
        if entry not in methods:
            messages.append(f"at 'selection.methods': {entry!r} is not one of the configured methods "
                            f"{sorted(methods)}")
            continue
        known = known_keys(entry)
        for key in sorted(set(grid) - (known or set(grid))):
            messages.append(f"at 'selection.methods.{entry}': {key!r} is neither a training setting nor a "
                            f"hyper-parameter of {entry}; known: {sorted(known)}")
        for key, values in grid.items():
            if known is not None and key in known:
                messages += value_errors(f"selection.methods.{entry}", key, values, [entry])
    for key, values in (selection.get("grid") or {}).items():
        unknown_for = [m for m in methods if (k := known_keys(m)) is not None and key not in k]
        if unknown_for:
            messages.append(f"at 'selection.grid': {key!r} is not a training setting nor a hyper-parameter of "
                            f"{unknown_for}; put method-specific grids under selection.methods")
            continue
        messages += value_errors("selection.grid", key, values, list(methods))
    return messages
