"""Workflow config: the JSON schema check, config entries (method_entry, backbone_entry, reference_entry, train_settings, the reference predictors
and random twins a config runs), canonical params, loading a YAML file with a clear error. The checks that need the
registries or the file system are in extrapbench.config_checks; extrapbench.checked_config runs both.

Every problem is reported at once, each naming the config file, the key and what was expected, before any
job starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import yaml

from extrapbench.registry import ALIAS_KEYS, resolve_entry


class ConfigError(ValueError):
    pass


def with_schema_defaults(config: Any, schema: Dict[str, Any], root: Dict[str, Any] | None = None) -> Any:
    """`config` with every `default:` of the schema filled in where the key is absent, recursively (objects under
    `properties`, the values of a mapping under `additionalProperties`, `$ref`s into `definitions`). The schema is
    the one place a default is written; the workflow reads the filled config and never states a default itself."""
    import copy

    root = schema if root is None else root
    if "$ref" in schema:
        schema = {**root["definitions"][schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items()
                                                                               if k != "$ref"}}
    if not isinstance(config, dict) or schema.get("type") != "object":
        return config
    filled = dict(config)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in filled and "default" in sub:
            filled[key] = copy.deepcopy(sub["default"])
        if key in filled:
            filled[key] = with_schema_defaults(filled[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(filled) - set(schema.get("properties") or {}):
            filled[key] = with_schema_defaults(filled[key], extra, root)
    return filled


#: keys of a `methods:` entry that are training settings for that method, not its hyper-parameters
METHOD_TRAIN_KEYS = ("train", "train_by_task")


def method_entry(name: str, entry: Dict[str, Any] | None) -> tuple[str, Dict[str, Any]]:
    """(registered method, hyper-parameters) of the `methods:` entry `name`: a registered name with its
    hyper-parameters, or a variant whose `method:` key names the registered class (`mex_cos: {method: mex, score:
    cos}`). The entry's own training settings (`train`, `train_by_task`, see `train_settings`) are left out."""
    return resolve_entry(ALIAS_KEYS["method"], name, entry, drop=METHOD_TRAIN_KEYS)


def backbone_entry(name: str, entry: Dict[str, Any] | None) -> tuple[str, Dict[str, Any]]:
    """(registered backbone, hyper-parameters) of the `backbones:` entry `name` (a variant names its class with
    `backbone:`)."""
    return resolve_entry(ALIAS_KEYS["backbone"], name, entry)


def reference_entry(name: str, entry: Dict[str, Any] | None) -> tuple[str, Dict[str, Any]]:
    """(registered predictor, hyper-parameters) of the `references:` entry `name` (a variant names its predictor
    with `reference:`, e.g. `rf_100: {reference: random_forest, n_estimators: 100}`)."""
    return resolve_entry(ALIAS_KEYS["reference predictor"], name, entry)


#: the method every ablation is compared with unless the config names another
ABLATION_REFERENCE = "erm"


def normalise_ablations(ablations: Any) -> dict[str, str | None]:
    """The config key ``ablations``: a list of entry names or a mapping entry -> reference entry. Returns
    {entry: reference or None (found by the rule of extrapbench.report.method_sets)}."""
    if not ablations:
        return {}
    if isinstance(ablations, dict):
        return {str(k): (None if v is None else str(v)) for k, v in ablations.items()}
    if isinstance(ablations, str):
        return {ablations: None}
    return {str(name): None for name in ablations}


def canonical(value: Any) -> Any:
    """`value` with every mapping's keys sorted, recursively (lists and tuples keep their order), so that equal
    settings written in another key order have the same repr. Snakemake stores the repr of a job's params and
    reruns the job when it differs ("Params have changed"): the training rules' params go through this, so
    reordering keys under `train:` or inside a method entry retrains nothing. Keys of different types (YAML allows
    int and str keys side by side) are ordered by type name, then text."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=lambda k: (type(k).__name__, str(k)))}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, tuple):
        return tuple(canonical(item) for item in value)
    return value


def train_settings(config: Dict[str, Any], backbone: str, method: str, task: str) -> Dict[str, Any]:
    """The training settings of one (backbone, method, task), each layer replacing the keys it sets:
    `train` < `train_overrides.<backbone>` < `methods.<method>.train` < `methods.<method>.train_by_task.<task>`.

    The method layers are how a config states per-method protocols (the MEX authors' release trains MEX with
    early-stopping patience 20 and LR-plateau patience 3, ERM with 15, BalancedMSE for fixed epochs) and the
    per-task batch size / learning rate / weight decay of their run scripts (config/authors.yaml). A selection
    grid point, when there is one, is applied on top of these by the train script."""
    entry = (config.get("methods") or {}).get(method) or {}
    return {**config["train"], **(config.get("train_overrides") or {}).get(backbone, {}),
            **(entry.get("train") or {}), **((entry.get("train_by_task") or {}).get(task) or {})}


#: the reference predictors a config runs when it has no `references:` key (extrapbench.references)
DEFAULT_REFERENCES = ("edge_train", "edge_known", "train_mean", "random_forest", "ridge")
#: the in-distribution twins' methods when the config has no `in_distribution:` key
DEFAULT_IN_DISTRIBUTION = {"methods": ["erm"], "seed": 0}
#: a random twin's task id: `<range task>_random`
RANDOM_TWIN_SUFFIX = "_random"


def configured_references(config: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """name -> params of the reference predictors to run: the config's `references:` (null / {}: none), all of
    DEFAULT_REFERENCES at their defaults when the key is absent."""
    if "references" not in config:
        return {name: {} for name in DEFAULT_REFERENCES}
    return {str(name): dict(params or {}) for name, params in (config["references"] or {}).items()}


def in_distribution_settings(config: Dict[str, Any]) -> Dict[str, Any]:
    """{methods, seed} of the in-distribution twins (no methods: none)."""
    if "in_distribution" not in config:
        return dict(DEFAULT_IN_DISTRIBUTION)
    settings = config["in_distribution"] or {"methods": []}
    return {**DEFAULT_IN_DISTRIBUTION, **settings}


#: the largest config file read (the full grid, config/config.yaml, is 20 kB)
MAX_CONFIG_BYTES = 2 ** 20
#: the most values a loaded config may hold, each mapping, list and scalar counted every time it occurs: a YAML alias
#: (`*name`) repeats its anchor's value once per use, so a few lines of nested aliases can stand for billions of
#: values, which every check would then walk (the full grid, config/config.yaml, holds about 700)
MAX_CONFIG_VALUES = 100_000


def config_size_error(config: Any, source: str = "config") -> str | None:
    """Why a loaded config is refused for its size (more than MAX_CONFIG_VALUES values, aliases expanded; a
    recursive alias never ends), or None. Counting stops at the limit, so a bomb costs no more than that."""
    count, stack = 0, [config]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            return (f"config {source}: refused: it holds more than {MAX_CONFIG_VALUES} values (MAX_CONFIG_VALUES, "
                    f"extrapbench/config/entries.py), counting each YAML alias (*name) as the values it repeats; "
                    f"a config that large is an alias bomb, or not a config. Write the repeated settings out, or "
                    f"repeat fewer of them.")
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return None


def load_yaml_file(path: str | Path) -> Dict[str, Any]:
    """A YAML (or JSON) config file; a syntax error names the file, line and column. Plain YAML only: unlike
    Snakemake's --configfile (YTE templates with `__use_yte__`), nothing in the file is evaluated. A file over
    MAX_CONFIG_BYTES, or one that holds more than MAX_CONFIG_VALUES values (config_size_error), is refused."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {path}: refused: {size} bytes, more than MAX_CONFIG_BYTES = {MAX_CONFIG_BYTES} "
                              f"(extrapbench/config/entries.py); is it a config?")
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        loaded = yaml.safe_load(text)
        if (message := config_size_error(loaded, str(path))) is not None:
            raise ConfigError(message)
        return loaded
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise ConfigError(f"{where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")) from None
