"""Loading matminer datasets into one table per dataset: id, structure, composition and the raw targets.

The download goes through matminer itself (`load_dataset(name, data_home=...)`): with the file already in
data_home it loads offline (matminer checks hashes only when it downloads); otherwise matminer fetches it. A
failed download leaves no partial file behind and ends in one error that says which file to put where.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


class DatasetUnavailableError(RuntimeError):
    pass


def dataset_file_name(name: str) -> str:
    from matminer.datasets.utils import _load_dataset_dict

    meta = _load_dataset_dict().get(name)
    if meta is None:
        raise DatasetUnavailableError(f"matminer has no dataset named {name!r}")
    return f"{name}.{meta['file_type']}"


def load_matminer_dataset(name: str, data_home: str | os.PathLike) -> pd.DataFrame:
    """matminer's load_dataset, with a clear error when the file is neither on disk nor downloadable."""
    from matminer.datasets import load_dataset

    data_home = Path(data_home).resolve()
    path = data_home / dataset_file_name(name)
    existed = path.exists()
    try:
        return load_dataset(name, data_home=str(data_home))
    except Exception as exc:  # network errors, hash mismatches, truncated files
        if not existed and path.exists():
            path.unlink()  # never leave a half-downloaded file that would later load as if complete
        where = "could not be read" if existed else "is missing and could not be downloaded"
        raise DatasetUnavailableError(
            f"matminer dataset {name!r}: the file {path.name!r} {where} ({type(exc).__name__}: {exc}). "
            f"Download it on a machine with internet access (matminer.datasets.load_dataset({name!r}, "
            f"data_home=...)) and put {path.name!r} in the directory {str(data_home)!r} "
            f"(config key 'data_home')."
        ) from exc


#: Datasets that do not come from matminer: name -> (loader module attribute, has structures). Their loaders
#: take the directory of config key ``ane_data_home``.
ANE_DATASETS = {"hoip": ("load_hoip", True), "mps": ("load_mps", False)}


def dataset_has_structures(name: str) -> bool:
    """Whether a dataset has crystal structures, known before downloading it (matminer's metadata ships with
    matminer): graph backbones only run on datasets that have them."""
    if name in ANE_DATASETS:
        return ANE_DATASETS[name][1]
    from matminer.datasets.utils import _load_dataset_dict

    meta = _load_dataset_dict().get(name)
    if meta is None:
        raise DatasetUnavailableError(f"no dataset named {name!r}: neither a matminer dataset nor one of "
                                      f"{sorted(ANE_DATASETS)}")
    return "structure" in meta["columns"]


def load_dataset_table(name: str, data_home: str | os.PathLike, ane_data_home: str | os.PathLike) -> pd.DataFrame:
    """The standardised table of any dataset the benchmark knows (matminer's, or paper B's HOIP / MPS)."""
    if name in ANE_DATASETS:
        from extrapbench import ane_data

        frame = getattr(ane_data, ANE_DATASETS[name][0])(ane_data_home)
    else:
        frame = load_matminer_dataset(name, data_home)
    return standardize_dataset(name, frame)


def standardize_dataset(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per material with a stable id; keeps structure (if any) and every target column."""
    frame = frame.reset_index(drop=True).copy()
    frame.insert(0, "id", [f"{name}-{i:05d}" for i in range(len(frame))])
    if "structure" in frame.columns:
        frame["composition"] = [s.composition.reduced_formula for s in frame["structure"]]
    elif "composition" not in frame.columns and "formula" in frame.columns:
        frame["composition"] = frame["formula"]
    return frame.set_index("id")


def read_dataset_table(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_pickle(path)


def write_atomic(write, path: str | os.PathLike) -> None:
    """Write through a temporary sibling file and rename, so an interrupted job never leaves a complete-looking
    output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
