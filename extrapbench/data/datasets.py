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


def builtin_targets(name: str) -> list[str]:
    """The target columns the built-in tasks read from dataset `name` (a config's own task_definitions are
    checked by the split job, extrapbench.splits.task_split.task_table)."""
    from extrapbench.tasks import BUILTIN_TASKS

    return sorted({task.target for task in BUILTIN_TASKS.values() if task.dataset == name})


def _first(ids, n: int = 5) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:n])) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def non_finite_error(name: str, table: pd.DataFrame, column: str, values=None, what: str = "") -> str | None:
    """The message for rows whose `column` (or the given transformed `values`) is NaN or infinite, or None."""
    import numpy as np

    raw = table[column] if values is None else pd.Series(np.asarray(values, dtype=float), index=table.index)
    numbers = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = table.index[~np.isfinite(numbers.to_numpy())]
    if not len(bad):
        return None
    return (f"dataset {name!r}: {len(bad)} of {len(table)} rows have a non-finite or non-numeric {column!r}{what} "
            f"(NaN, inf or text), first ids: {_first(bad)} (the number in an id is the row in the source file). "
            f"Fix or remove those rows in the dataset file; nothing was written.")


def structure_key(structure) -> str:
    """Identical structures (same species on the same sites of the same lattice, to 1e-5) get the same key."""
    import hashlib

    import numpy as np

    sites = sorted((str(site.species), *np.round(np.asarray(site.frac_coords) % 1.0, 5) % 1.0)
                   for site in structure)
    text = repr((np.round(structure.lattice.matrix, 5).tolist(), sites))
    return hashlib.sha1(text.encode()).hexdigest()


def _non_finite_geometry(structure) -> str:
    """What of a structure is NaN or infinite ("lattice", "coordinates of site 3", ...), or ""."""
    import numpy as np

    parts = []
    if not np.isfinite(np.asarray(structure.lattice.matrix, dtype=float)).all():
        parts.append("lattice")
    sites = np.flatnonzero(~np.isfinite(np.asarray(structure.frac_coords, dtype=float)).all(axis=1))
    if len(sites):
        parts.append(f"coordinates of site{'s' if len(sites) > 1 else ''} {', '.join(map(str, sites[:3]))}"
                     f"{' ...' if len(sites) > 3 else ''}")
    return "; ".join(parts)


def _unknown_elements(text) -> list[str]:
    """The symbols of a composition that are no element (pymatgen reads them as dummy species); [] for a composition
    of known elements, and for a text pymatgen cannot read as a formula (that fails where it is read, by name)."""
    from pymatgen.core import Composition
    from pymatgen.core.periodic_table import DummySpecies

    try:
        composition = Composition(str(text))
    except Exception:
        return []
    return sorted({sp.symbol for sp in composition if isinstance(sp, DummySpecies)})


def validate_dataset_table(name: str, table: pd.DataFrame, targets: list[str] | None = None) -> None:
    """Stop on data the benchmark must not train or score on, with one line naming the data set, how many rows,
    the first ids and what to do (DataValidationError):

    * non-finite targets (NaN, ±inf) in the columns the tasks read (`targets`; default: the built-in tasks'
      targets of this data set);
    * a structure with an unknown element or a non-finite (NaN, ±inf) lattice or site coordinate; in a
      composition-only set, a composition with an unknown element (each id named with its element);
    * duplicated materials: the same source id twice (HOIP / MPS ids), or the same material twice with the same
      values in every column — the same structure (species on the same sites of the same lattice) for sets with
      structures, the same composition for composition-only sets. Such a copy would sit in train and test at
      once or count twice in a metric.

    The same structure with *different* values is kept (logged): distinct measurements or calculations of one
    structure are real data in some sets, and for composition-only sets the same formula with different values
    is a polymorph (MPS has 214 such rows). None of the shipped sets (phonons, castelli, dielectric, HOIP) has
    an identical structure twice.
    """
    import logging

    messages = []
    for column in (builtin_targets(name) if targets is None else targets):
        if column in table.columns and (message := non_finite_error(name, table, column)):
            messages.append(message)
    if "structure" in table.columns:
        # pymatgen reads a symbol it does not know (a CIF's "Xq") as a dummy species rather than failing
        from pymatgen.core.periodic_table import DummySpecies

        unknown = {i: sorted({str(sp) for sp in s.composition if isinstance(sp, DummySpecies)})
                   for i, s in table["structure"].items()}
        unknown = {i: symbols for i, symbols in unknown.items() if symbols}
        if unknown:
            symbols = sorted({s for v in unknown.values() for s in v})
            messages.append(f"dataset {name!r}: {len(unknown)} of {len(table)} rows have a structure with an "
                            f"unknown element ({', '.join(symbols[:5])}), first ids: {_first(unknown)}. Fix or "
                            f"remove those structures in the dataset file; nothing was written.")
        # NaN / inf in a lattice or a site would pass to the graphs as a material without neighbours
        not_finite = {i: _non_finite_geometry(s) for i, s in table["structure"].items()}
        not_finite = {i: what for i, what in not_finite.items() if what}
        if not_finite:
            first = ", ".join(f"{i} ({what})" for i, what in list(not_finite.items())[:5])
            messages.append(f"dataset {name!r}: {len(not_finite)} of {len(table)} rows have a structure with a "
                            f"non-finite lattice or site coordinate (NaN or inf), first ids: {first}"
                            f"{f' and {len(not_finite) - 5} more' if len(not_finite) > 5 else ''}. Fix or remove "
                            f"those structures in the dataset file; nothing was written.")
    elif "composition" in table.columns:
        # composition-only sets (MPS): pymatgen reads an unknown symbol as a dummy species too, and the Magpie
        # featurizer would fail on it later with its own message
        unknown = {i: symbols for i, text in table["composition"].items() if (symbols := _unknown_elements(text))}
        if unknown:
            first = ", ".join(f"{i} ({', '.join(symbols)})" for i, symbols in list(unknown.items())[:5])
            messages.append(f"dataset {name!r}: {len(unknown)} of {len(table)} rows have a composition with an "
                            f"unknown element, first ids (unknown elements): {first}"
                            f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''} (the number in an id "
                            f"is the row in the source file). Fix or remove those rows in the dataset file; "
                            f"nothing was written.")
    if "source_id" in table.columns:
        repeated = table.index[table["source_id"].duplicated(keep=False)]
        if len(repeated):
            messages.append(f"dataset {name!r}: {len(repeated)} rows share a source id with another row, first ids: "
                            f"{_first(repeated)} (source ids {_first(table.loc[repeated, 'source_id'].unique())}). "
                            f"Remove the duplicated rows from the dataset file; nothing was written.")
    has_structures = "structure" in table.columns
    material = (pd.Series([structure_key(s) for s in table["structure"]], index=table.index) if has_structures
                else table["composition"].astype(str) if "composition" in table.columns else None)
    if material is not None:
        values = table.drop(columns=[c for c in ("structure", "source_id") if c in table.columns])
        values = values.apply(lambda c: c.map(repr) if c.dtype == object else c).assign(_material=material)
        identical = values.duplicated(keep="first")
        if identical.any():
            kind = "structure" if has_structures else "composition"
            first = table.index[values.duplicated(keep=False)]
            messages.append(f"dataset {name!r}: {int(identical.sum())} rows repeat another row (same {kind} and "
                            f"the same value in every column), first ids: {_first(first)}. Remove the repeated "
                            f"rows from the dataset file; nothing was written.")
        elif has_structures:
            same = table.index[material.duplicated(keep=False)]
            if len(same):
                logging.getLogger(__name__).warning(
                    "dataset %r: %d rows share a structure with another row but differ in their values (kept: "
                    "distinct measurements of one structure), first ids: %s", name, len(same), _first(same))
    if messages:
        raise DataValidationError("\n".join(messages))


#: the dataset table between jobs (results/datasets/{name}.json.gz): gzipped JSON, no pickle. Structures are
#: pymatgen dicts, read back with Structure.from_dict; floats keep every bit (Python's repr).
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
