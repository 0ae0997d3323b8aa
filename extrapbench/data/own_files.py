"""Reading an own dataset's files (extrapbench.data.own) into rows: the id, structure (or composition) and target
columns as the file holds them, with one line per problem that stops the reading (a missing column, a frame
without a periodic cell, a CIF file that is not there). extrapbench.data.own builds and checks the table."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd

FORMATS = ("csv", "json", "extxyz", "cif_folder")
#: formats whose structures come from the files themselves (no `structure` / `composition` column)
STRUCTURE_FILE_FORMATS = ("extxyz", "cif_folder")
#: how many ids a message names before "and N more"
SHOWN = 5


def dataset_format(entry: Dict[str, Any]) -> str:
    """The entry's `format`, or the one its path implies (a folder: cif_folder; .csv, .json(.gz), .xyz /
    .extxyz). A path that implies none reads as csv (the check then says what it found)."""
    if entry.get("format"):
        return entry["format"]
    path = Path(str(entry.get("path", "")))
    if path.is_dir():
        return "cif_folder"
    name = path.name.lower()
    for suffix, kind in ((".json", "json"), (".json.gz", "json"), (".xyz", "extxyz"), (".extxyz", "extxyz")):
        if name.endswith(suffix):
            return kind
    return "csv"


def dataset_targets(entry: Dict[str, Any]) -> List[str]:
    target = entry.get("target")
    return [target] if isinstance(target, str) else [str(t) for t in (target or [])]


def ids_text(ids, reasons: Dict[str, str] | None = None) -> str:
    ids = list(ids)
    shown = [f"{i} ({reasons[i]})" if reasons and i in reasons else str(i) for i in ids[:SHOWN]]
    return ", ".join(shown) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def columns_text(columns) -> str:
    return ", ".join(repr(str(c)) for c in columns)


def key_problems(at: str, entry: Dict[str, Any], kind: str) -> List[str]:
    problems = []
    if not dataset_targets(entry):
        problems.append(f"{at}': no 'target' column named")
    if kind in STRUCTURE_FILE_FORMATS:
        for key in ("structure", "composition"):
            if key in entry:
                problems.append(f"{at}.{key}': format {kind!r} takes the structures from its files; drop {key!r}")
        if kind == "cif_folder" and not entry.get("table"):
            problems.append(f"{at}': a CIF folder needs 'table': a CSV (in the folder) of the ids and targets")
    elif ("structure" in entry) == ("composition" in entry):
        problems.append(f"{at}': name exactly one of 'structure' (a column of CIF / POSCAR text or pymatgen "
                        f"dicts) and 'composition' (a column of formulas)")
    return problems


def _missing_columns(at: str, entry: Dict[str, Any], columns, where: str) -> List[str]:
    wanted = [("id", entry["id"])] + [(k, entry[k]) for k in ("structure", "composition") if k in entry]
    wanted += [("target", t) for t in dataset_targets(entry)]
    return [f"{at}.{key}': no column {column!r} in {where}; its columns: {columns_text(columns)}"
            for key, column in wanted if column not in columns]


def _read_csv(at: str, entry: Dict[str, Any], path: Path):
    frame = pd.read_csv(path, dtype={entry["id"]: str}, keep_default_na=True)
    return frame, _missing_columns(at, entry, frame.columns, str(entry["path"]))


def _read_json(at: str, entry: Dict[str, Any], path: Path):
    import gzip

    with (gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")) \
            as handle:
        document = json.load(handle)
    if isinstance(document, dict) and "columns" in document and "data" in document:
        frame = pd.DataFrame(document["data"], columns=document["columns"])
    elif isinstance(document, dict):
        frame = pd.DataFrame({column: pd.Series(values, dtype=object) for column, values in document.items()})
    elif isinstance(document, list) and all(isinstance(row, dict) for row in document):
        frame = pd.DataFrame.from_records(document)
    else:
        raise ValueError("expected a list of records, a mapping column -> values, or {columns, data}")
    return frame, _missing_columns(at, entry, frame.columns, str(entry["path"]))


def _read_extxyz(at: str, entry: Dict[str, Any], path: Path):
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = ase.io.read(path, index=":", format="extxyz")
    keys = ([entry["id"], *dataset_targets(entry)])
    rows, problems, no_cell = [], [], []
    for number, atoms in enumerate(frames):
        values = dict(atoms.calc.results) if atoms.calc is not None else {}
        values.update(atoms.info)
        row = {key: values.get(key, np.nan) for key in keys}
        if not (np.all(atoms.pbc) and atoms.cell.rank == 3):
            no_cell.append(f"frame {number}")
            row["structure"] = None
        else:
            try:
                row["structure"] = AseAtomsAdaptor.get_structure(atoms)
            except Exception as exc:  # an unknown symbol, a degenerate cell
                row["structure"] = f"{type(exc).__name__}: {str(exc)[:100]}"
        rows.append(row)
    if no_cell:
        problems.append(f"{at}.path': {len(no_cell)} of {len(frames)} frames have no periodic cell (Lattice= "
                        f"and pbc=\"T T T\" in the comment line): {ids_text(no_cell)}")
    seen = set().union(*(set(atoms.info) | set(atoms.calc.results if atoms.calc is not None else ())
                         for atoms in frames)) if frames else set()
    for key, column in [("id", entry["id"])] + [("target", t) for t in dataset_targets(entry)]:
        if column not in seen:
            problems.append(f"{at}.{key}': no frame of {entry['path']} has {column!r} in its info; its keys: "
                            f"{columns_text(sorted(seen))}")
    return pd.DataFrame(rows, columns=keys + ["structure"]), problems


def _read_cif_folder(at: str, entry: Dict[str, Any], path: Path):
    table_path = path / entry["table"]
    if not table_path.is_file():
        return None, [f"{at}.table': {table_path} does not exist (the table is read from the folder {entry['path']})"]
    frame = pd.read_csv(table_path, dtype={entry["id"]: str})
    entry = {k: v for k, v in entry.items() if k not in ("structure", "composition")}
    problems = _missing_columns(at, entry, frame.columns, str(table_path))
    if problems:
        return None, problems
    texts, missing = [], []
    for source_id in frame[entry["id"]]:
        file = path / f"{source_id}.cif"
        if file.is_file():
            texts.append(file.read_text(errors="replace"))
        else:
            texts.append(None)
            missing.append(str(source_id))
    if missing:
        return None, [f"{at}.path': {len(missing)} of {len(frame)} ids of {entry['table']} have no CIF file "
                      f"<id>.cif in {entry['path']}: {ids_text(missing)}"]
    return frame.assign(**{"structure": texts}), []


READERS = {"csv": _read_csv, "json": _read_json, "extxyz": _read_extxyz, "cif_folder": _read_cif_folder}


def parse_structure(value):
    """A pymatgen Structure from a Structure, its dict (or the dict as JSON text), CIF text or POSCAR text."""
    from pymatgen.core import Structure

    if isinstance(value, Structure):
        return value
    if isinstance(value, dict):
        return Structure.from_dict(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no structure ({value!r})")
    text = value.strip()
    if text.startswith("{"):
        return Structure.from_dict(json.loads(text))
    if "_cell_length_a" in text or text.startswith("data_") or "\ndata_" in text:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return Structure.from_str(text, fmt="cif")
            except Exception as exc:
                # pymatgen's own words say why (a value it cannot convert) in a warning
                issues = [str(w.message).splitlines()[-1] for w in caught if "parsed" in str(w.message)]
                raise ValueError(f"{exc}{': ' + issues[-1] if issues else ''}") from None
    return Structure.from_str(text, fmt="poscar")
