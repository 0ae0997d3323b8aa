"""Every dataset a config can name, by name: the user's own (config key ``datasets:``, extrapbench.data.own) or a
built-in one (matminer's, paper B's HOIP / MPS: extrapbench.data.datasets). The one place that says which, so
the workflow, the config check and any caller reading a dataset go through the same functions:

* `dataset_table(config, name)`: the validated table (index ``id``; ``structure`` when there are structures,
  ``composition``, the targets);
* `dataset_digest(config, name)`: what the table is built from, as one string (a rebuild when it changes);
* `dataset_file(config, name)`: where the workflow keeps the table. Own datasets live apart, under
  ``results/datasets/own/``, so that one can never be written over a built-in dataset's table;
* `has_structures(config, name)`, `is_own(config, name)`, `is_builtin(name)`, `known_dataset(config, name)`.
"""
from __future__ import annotations

import functools
from typing import Any, Dict

import pandas as pd

from extrapbench.data import own
from extrapbench.data.datasets import ANE_DATASETS, dataset_has_structures, dataset_source_digest, load_dataset_table
from extrapbench.data.errors import DatasetUnavailableError

#: the workflow's dataset tables: built-in ones by name, own ones in their own folder
BUILTIN_TABLE = "results/datasets/{name}.json.gz"
OWN_TABLE = "results/datasets/own/{name}.json.gz"
#: the default of config key ane_data_home (the schema's)
ANE_DATA_HOME = "data/ane"


@functools.lru_cache(maxsize=1)
def _matminer_names() -> frozenset:
    from matminer.datasets.utils import _load_dataset_dict

    return frozenset(_load_dataset_dict())


def is_builtin(name: str) -> bool:
    """A matminer dataset (matminer's metadata, shipped with it: no download) or paper B's HOIP / MPS."""
    return name in ANE_DATASETS or name in _matminer_names()


def own_entry(config: Dict[str, Any], name: str) -> Dict[str, Any] | None:
    return (config.get("datasets") or {}).get(name)


def is_own(config: Dict[str, Any], name: str) -> bool:
    return own_entry(config, name) is not None


def known_dataset(config: Dict[str, Any], name: str) -> bool:
    return is_own(config, name) or is_builtin(name)


def dataset_table(config: Dict[str, Any], name: str) -> pd.DataFrame:
    """The validated table of dataset `name`: the config's own entry when it has one, else the built-in loader
    (matminer's file in data_home, paper B's in ane_data_home)."""
    entry = own_entry(config, name)
    if entry is not None:
        return own.load_own_dataset(name, entry)
    if not is_builtin(name):
        raise DatasetUnavailableError(unknown_message(name))
    return load_dataset_table(name, _data_home(config, name), config.get("ane_data_home") or ANE_DATA_HOME)


def dataset_digest(config: Dict[str, Any], name: str) -> str:
    """What the table is built from: sha256 of the source files' content (and, for an own dataset, of how its
    entry reads them). A file touched but unchanged keeps its digest."""
    entry = own_entry(config, name)
    if entry is not None:
        return f"own:{own.source_digest(entry)}"
    return dataset_source_digest(name, _data_home(config, name), config.get("ane_data_home") or ANE_DATA_HOME)


def _data_home(config: Dict[str, Any], name: str) -> str:
    if not config.get("data_home") and name not in ANE_DATASETS:
        raise DatasetUnavailableError(f"dataset {name!r} is matminer's: config key 'data_home' (the folder of "
                                      f"matminer's files) is needed to read it")
    return config.get("data_home") or ""


def dataset_file(config: Dict[str, Any], name: str) -> str:
    return (OWN_TABLE if is_own(config, name) else BUILTIN_TABLE).format(name=name)


def has_structures(config: Dict[str, Any], name: str) -> bool:
    """Whether the dataset has crystal structures (graph backbones need them), known without reading it."""
    entry = own_entry(config, name)
    if entry is not None:
        return own.dataset_has_structures(entry)
    if not is_builtin(name):
        raise DatasetUnavailableError(unknown_message(name))
    return dataset_has_structures(name)


def unknown_message(name: str) -> str:
    return (f"no dataset named {name!r}: neither a matminer dataset, one of {sorted(ANE_DATASETS)}, nor one of "
            f"the config's own 'datasets:' (name -> {{path, id, structure | composition, target}})")
