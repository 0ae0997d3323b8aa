"""Loading matminer datasets into one table per dataset: id, structure, composition and the raw targets.

The download goes through matminer itself (`load_dataset(name, data_home=...)`): with the file already in
data_home it loads offline (matminer checks hashes only when it downloads); otherwise matminer fetches it. A
failed download leaves no partial file behind and ends in one error that says which file to put where.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from extrapbench.data.compressed import check_decompressed_size
from extrapbench.data.errors import DatasetUnavailableError, DataValidationError
from extrapbench.data.validation import validate_dataset_table


def dataset_file_name(name: str) -> str:
    from matminer.datasets.utils import _load_dataset_dict

    meta = _load_dataset_dict().get(name)
    if meta is None:
        raise DatasetUnavailableError(f"matminer has no dataset named {name!r}")
    return f"{name}.{meta['file_type']}"


def load_matminer_dataset(name: str, data_home: str | os.PathLike) -> pd.DataFrame:
    """matminer's dataset file (downloaded by matminer when it is missing, with matminer's hash check), read
    without monty's generic decoder: only pymatgen Structures / Compositions are built (`_decode_objects`),
    each row on its own, so a structure that cannot be read is reported by row instead of failing the file."""
    from matminer.datasets.utils import _load_dataset_dict, _validate_dataset
    from matminer.utils.io import load_dataframe_from_json

    data_home = Path(data_home).resolve()
    path = data_home / dataset_file_name(name)
    existed = path.exists()
    meta = _load_dataset_dict()[name]

    def unavailable(exc, where):
        return DatasetUnavailableError(
            f"matminer dataset {name!r}: the file {path.name!r} {where} ({type(exc).__name__}: {exc}). "
            f"Download it on a machine with internet access (matminer.datasets.load_dataset({name!r}, "
            f"data_home=...)) and put {path.name!r} in the directory {str(data_home)!r} "
            f"(config key 'data_home').")

    try:
        _validate_dataset(str(path), meta["url"], meta["hash"], download_if_missing=True)
    except Exception as exc:  # network errors, hash mismatches
        if not existed and path.exists():
            path.unlink()  # never leave a half-downloaded file that would later load as if complete
        raise unavailable(exc, "is missing and could not be downloaded") from exc
    check_decompressed_size(path, f"matminer dataset {name!r}")
    try:
        frame = load_dataframe_from_json(str(path), pbar=False, decode=False)
    except MemoryError:
        raise MemoryError(f"matminer dataset {name!r}: reading {path} ({path.stat().st_size} bytes) ran out of "
                          f"memory; give the download job more (its resources mem_mb) or check the file") from None
    except Exception as exc:  # truncated or corrupt file: the JSON itself cannot be parsed
        raise unavailable(exc, "could not be read (not valid JSON: truncated or corrupt)") from exc
    return _decode_objects(name, frame, path)


#: the objects a dataset file may hold, by monty's "@module" / "@class": built with their own from_dict
DECODABLE = {("pymatgen.core.structure", "Structure"), ("pymatgen.core.composition", "Composition")}


def _decode_objects(name: str, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Build the pymatgen objects of columns stored as monty dicts, row by row; rows that fail are reported
    together (DataValidationError naming the rows and the reason), any other class is refused."""
    from pymatgen.core import Composition, Structure

    classes = {"Structure": Structure, "Composition": Composition}
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object or not any(isinstance(v, dict) and "@class" in v for v in values):
            continue
        decoded, failures = [], []
        for row, value in enumerate(values):
            if not isinstance(value, dict):
                failures.append((row, f"not an object: {value!r}"[:120]))
                decoded.append(None)
                continue
            kind = (str(value.get("@module", "")), str(value.get("@class", "")))
            if kind not in DECODABLE:
                raise DataValidationError(
                    f"dataset {name!r} ({path}): column {column!r} row {row} holds a {kind[0]}.{kind[1]} object; "
                    f"only {sorted(c for _, c in DECODABLE)} are read (from their pymatgen dicts). Convert the "
                    f"column or remove it from the file.")
            try:
                decoded.append(classes[kind[1]].from_dict(value))
            except Exception as exc:  # unknown element, malformed lattice or sites
                failures.append((row, f"{type(exc).__name__}: {exc}"))
                decoded.append(None)
        if failures:
            rows = ", ".join(f"row {row} ({reason})" for row, reason in failures[:3])
            raise DataValidationError(
                f"dataset {name!r}: {len(failures)} of {len(values)} rows have a {column} that cannot be read, "
                f"first: {rows}{' ...' if len(failures) > 3 else ''}. The file {path} is readable otherwise (this "
                f"is not a download problem): fix or remove those rows.")
        frame[column] = decoded
    return frame


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


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_source_digest(name: str, data_home: str | os.PathLike, ane_data_home: str | os.PathLike) -> str:
    """What a dataset's table is built from, as one string: the sha256 of each of its source files in data_home
    (matminer's file; paper B's files in ane_data_home). The download rule takes it as a param, so a source file
    replaced after the table was built (other rows, another version) makes Snakemake rebuild the table and
    everything downstream (Snakemake's params trigger) instead of the tables reporting the old rows.

    A matminer file not downloaded yet stands for matminer's own sha256 of it (the digest matminer checks the
    download against), so the first download does not change the value and rebuild everything once more. Paper
    B's files have no pinned digest (extrapbench.data.ane): missing ones read "absent", so a download of them is
    followed by one rebuild; the repository ships them."""
    if name in ANE_DATASETS:
        from extrapbench.data.ane import FILES_OF

        home = Path(ane_data_home)
        return ";".join(f"{file}:{_file_sha256(home / file) if (home / file).exists() else 'absent'}"
                        for file in FILES_OF[name])
    from matminer.datasets.utils import _load_dataset_dict

    file = dataset_file_name(name)
    path = Path(data_home) / file
    return f"{file}:{_file_sha256(path) if path.exists() else _load_dataset_dict()[name]['hash']}"


def load_dataset_table(name: str, data_home: str | os.PathLike, ane_data_home: str | os.PathLike) -> pd.DataFrame:
    """The standardised, validated table of any dataset the benchmark knows (matminer's, or paper B's HOIP /
    MPS): see `validate_dataset_table` for what stops here."""
    if name in ANE_DATASETS:
        from extrapbench.data import ane as ane_data

        frame = getattr(ane_data, ANE_DATASETS[name][0])(ane_data_home)
    else:
        frame = load_matminer_dataset(name, data_home)
    table = standardize_dataset(name, frame)
    validate_dataset_table(name, table)
    return table


def standardize_dataset(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per material with a stable id (the row number in the source file); keeps structure (if any)
    and every target column."""
    frame = frame.reset_index(drop=True).copy()
    frame.insert(0, "id", [f"{name}-{i:05d}" for i in range(len(frame))])
    if "structure" in frame.columns:
        frame["composition"] = [s.composition.reduced_formula for s in frame["structure"]]
    elif "composition" not in frame.columns and "formula" in frame.columns:
        frame["composition"] = frame["formula"]
    return frame.set_index("id")


TABLE_FORMAT = "extrapbench-dataset-table/1"


def write_dataset_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    import gzip
    import json

    columns = []
    for column in table.columns:
        values = table[column]
        if column == "structure":
            columns.append({"name": column, "kind": "structure", "values": [s.as_dict() for s in values]})
        else:
            columns.append({"name": column, "kind": "values", "dtype": str(values.dtype), "values": values.tolist()})
    document = {"format": TABLE_FORMAT, "index_name": table.index.name, "index": list(map(str, table.index)),
                "columns": columns}
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        json.dump(document, out)


def read_dataset_table(path: str | os.PathLike, structures: bool = True) -> pd.DataFrame:
    """A table written by `write_dataset_table`; `structures=False` skips building the pymatgen Structures
    (featurisation and splits need compositions and targets only)."""
    import gzip
    import json

    check_decompressed_size(path, "dataset table")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("format") != TABLE_FORMAT:
        raise ValueError(f"{path}: not an extrapbench dataset table ({TABLE_FORMAT}); delete it and rerun the "
                         f"download rule")
    index = pd.Index(document["index"], name=document["index_name"])
    data = {}
    for column in document["columns"]:
        if column["kind"] == "structure":
            if not structures:
                continue
            from pymatgen.core import Structure

            data[column["name"]] = pd.Series([Structure.from_dict(d) for d in column["values"]], index=index,
                                             dtype=object)
        else:
            data[column["name"]] = pd.Series(column["values"], index=index, dtype=column["dtype"])
    return pd.DataFrame(data, index=index)
