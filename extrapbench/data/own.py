"""Datasets from a user's own files (config key ``datasets:``), read into the same table the built-in datasets
give (`extrapbench.data.datasets.load_dataset_table`): index ``id`` (the user's ids, as text), ``structure``
(pymatgen Structures, when the file has structures), ``composition`` (a formula) and one column per target.

An entry is ``{path, id, structure | composition, target, format, table}``:

* ``csv`` / ``json`` (``.csv``, ``.json``, ``.json.gz``): one row per material; ``id`` names the id column,
  ``structure`` a column of CIF text, POSCAR text or pymatgen Structure dicts (in a CSV, a dict as JSON text),
  or ``composition`` a column of formulas; ``target`` one column or a list of them. A JSON file is a list of
  records, a mapping column -> values, or pandas' ``split`` layout (``columns`` + ``data``).
* ``extxyz`` (``.xyz``, ``.extxyz``): every frame (``ase.io.read(path, index=":")``) with a periodic cell;
  ids and targets from each frame's ``info`` (or, for keys ASE files under the calculator, such as ``energy``,
  its results).
* ``cif_folder`` (``path`` a folder): a CSV ``table`` (relative to that folder) with the ids and targets;
  the structure of id ``x`` is ``<path>/x.cif``.

Relative paths are read from the directory the workflow runs in, as ``data_home`` is. Everything that would stop
the run later is found in one read and reported together, one line per problem, each naming the config key
(`dataset_problems`): a missing path or column, structures or formulas that cannot be read (naming the ids),
repeated ids, non-finite targets or coordinates, unknown elements. The config check reports them before any job
starts; the job that writes the table (`load_own_dataset`) raises them as DataValidationError.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pandas as pd

from extrapbench.data.errors import DataValidationError
from extrapbench.data.validation import non_finite_geometry, unknown_elements, validate_dataset_table
from extrapbench.data.own_files import (FORMATS, READERS, STRUCTURE_FILE_FORMATS, dataset_format, dataset_targets,
                                        ids_text, key_problems, parse_structure)

__all__ = ["FORMATS", "dataset_format", "dataset_targets", "dataset_has_structures", "source_files",
           "source_digest", "load_own_dataset", "dataset_problems", "read_own_dataset", "parse_structure",
           "describe"]


def dataset_has_structures(entry: Dict[str, Any]) -> bool:
    return dataset_format(entry) in STRUCTURE_FILE_FORMATS or "structure" in entry


def source_files(entry: Dict[str, Any]) -> List[Path]:
    """The files the table is built from: the file, or a CIF folder's table and its .cif files."""
    path = Path(entry["path"]).expanduser()
    if dataset_format(entry) != "cif_folder":
        return [path]
    return [path / entry.get("table", "")] + sorted(path.glob("*.cif"))


def source_digest(entry: Dict[str, Any]) -> str:
    """sha256 over the source files' names (a CIF folder's, relative to it) and bytes, and over how the entry
    reads them (columns, format). Same content, same digest: touching a file changes nothing; editing one value
    changes it."""
    digest = hashlib.sha256()
    reading = {k: v for k, v in sorted(entry.items()) if k != "path"}
    digest.update(json.dumps({**reading, "format": dataset_format(entry)}, sort_keys=True, default=str).encode())
    root = Path(entry["path"]).expanduser()
    for file in source_files(entry):
        digest.update(b"\0" + (file.relative_to(root) if file != root else Path(file.name)).as_posix().encode())
        if file.is_file():
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(b"\0absent")
    return digest.hexdigest()


def load_own_dataset(name: str, entry: Dict[str, Any]) -> pd.DataFrame:
    """The dataset's table; DataValidationError naming every problem (one line each) when there is one."""
    table, problems = read_own_dataset(name, entry)
    if problems:
        raise DataValidationError("\n".join(problems))
    return table


def dataset_problems(name: str, entry: Dict[str, Any]) -> List[str]:
    """Every problem of the entry's files, one line each, as the config check reports them."""
    return read_own_dataset(name, entry)[1]


def read_own_dataset(name: str, entry: Dict[str, Any]) -> Tuple[pd.DataFrame | None, List[str]]:
    """(table or None, problems): the table is None when a problem stops the reading part-way."""
    at = f"at 'datasets.{name}"
    kind = dataset_format(entry)
    path = Path(str(entry.get("path", ""))).expanduser()
    if not path.exists():
        where = "" if path.is_absolute() else f" (read from {Path.cwd()}, the directory the workflow runs in)"
        return None, [f"{at}.path': {entry.get('path')} does not exist{where}"]
    if (kind == "cif_folder") != path.is_dir():
        expected = "a folder of CIF files" if kind == "cif_folder" else f"a {kind} file"
        return None, [f"{at}.path': {entry['path']} is {'a folder' if path.is_dir() else 'a file'}; format "
                      f"{kind!r} reads {expected}"]
    problems = key_problems(at, entry, kind)
    if problems:
        return None, problems
    try:
        frame, problems = READERS[kind](at, entry, path)
    except Exception as exc:  # the file itself is not CSV / JSON / extended XYZ
        return None, [f"{at}.path': {entry['path']} cannot be read as {kind} ({type(exc).__name__}: "
                      f"{str(exc)[:200]})"]
    if problems:
        return None, problems
    return _table(name, at, entry, kind, frame)


def _table(name: str, at: str, entry: Dict[str, Any], kind: str, frame: pd.DataFrame):
    """The table from the rows a reader gave, with every problem of its ids, structures or formulas, targets."""
    if not len(frame):
        return None, [f"{at}.path': {entry['path']} holds no rows"]
    ids, problems = _ids(at, frame[entry["id"]])
    columns = {}
    if kind in STRUCTURE_FILE_FORMATS or "structure" in entry:
        key = "path" if kind in STRUCTURE_FILE_FORMATS else "structure"
        structures = frame["structure" if kind in STRUCTURE_FILE_FORMATS else entry["structure"]]
        columns["structure"], more = _structures(f"{at}.{key}'", ids, structures, kind)
        columns["composition"] = [s.composition.reduced_formula if s is not None else None
                                  for s in columns["structure"]]
    else:
        columns["composition"], more = _compositions(f"{at}.composition'", ids, frame[entry["composition"]])
    problems += more
    for target in dataset_targets(entry):
        values = pd.to_numeric(pd.Series(list(frame[target])), errors="coerce").astype(float).to_numpy()
        bad = ids[~np.isfinite(values)]
        if len(bad):
            problems.append(f"{at}.target': {len(bad)} of {len(ids)} rows have a non-finite or non-numeric "
                            f"{target!r} (NaN, inf, empty or text), ids: {ids_text(bad)}")
        columns[target] = values
    if problems:
        return None, problems
    table = pd.DataFrame(columns, index=ids)
    try:  # the built-in sets' remaining rule: rows repeating another row
        validate_dataset_table(name, table, targets=dataset_targets(entry))
    except DataValidationError as exc:
        return None, [f"{at}': {line}" for line in str(exc).splitlines()]
    return table, []


def _ids(at: str, raw) -> Tuple[pd.Index, List[str]]:
    """The ids as text, and the rows without one or sharing one."""
    problems = []
    blank = [f"row {row}" for row, value in enumerate(raw) if pd.isna(value) or not str(value).strip()]
    if blank:
        problems.append(f"{at}.id': {len(blank)} of {len(raw)} rows have no id: {ids_text(blank)} (rows counted "
                        f"from 0, the first below a header)")
    ids = pd.Index([str(value) for value in raw], name="id")
    counts = ids[ids.duplicated(keep=False)].value_counts(sort=False)
    if len(counts):
        rows = {i: f"{c} rows" for i, c in counts.items()}
        problems.append(f"{at}.id': {len(counts)} of the ids name more than one row: {ids_text(counts.index, rows)}; "
                        f"ids must be unique")
    return ids, problems


def _structures(at: str, ids: pd.Index, values, kind: str):
    """pymatgen Structures (None where one cannot be read), and the ids that cannot be read, have non-finite
    coordinates or hold an element pymatgen does not know (it reads such a symbol as a dummy species)."""
    structures = np.empty(len(ids), dtype=object)
    unreadable, non_finite, unknown = {}, [], {}
    for row, (source_id, value) in enumerate(zip(ids, values)):
        try:
            if isinstance(value, str) and kind == "extxyz":  # the reader's words for a frame it could not convert
                raise ValueError(value)
            structure = parse_structure(value)
        except Exception as exc:  # malformed text or dict
            unreadable[source_id] = f"{type(exc).__name__}: {str(exc)[:120]}"
            continue
        structures[row] = structure
        if non_finite_geometry(structure):
            non_finite.append(source_id)
        if dummies := unknown_elements(structure.composition):
            unknown[source_id] = ", ".join(dummies)
    problems, n = [], len(ids)
    if unreadable:
        problems.append(f"{at}: {len(unreadable)} of {n} structures cannot be read (CIF text, POSCAR text or a "
                        f"pymatgen dict), ids: {ids_text(unreadable, unreadable)}")
    if non_finite:
        problems.append(f"{at}: {len(non_finite)} of {n} structures have non-finite coordinates (NaN or inf in "
                        f"the lattice or the sites), ids: {ids_text(non_finite)}")
    if unknown:
        problems.append(f"{at}: {len(unknown)} of {n} structures hold an unknown element, ids: "
                        f"{ids_text(unknown, unknown)}")
    return structures, problems


def _compositions(at: str, ids: pd.Index, values):
    """Formulas as pymatgen writes them (None where one cannot be read), and the ids that cannot be read or hold
    an unknown element."""
    from pymatgen.core import Composition

    formulas, unreadable, unknown = [], {}, {}
    for source_id, value in zip(ids, values):
        try:
            composition = None if pd.isna(value) else Composition(str(value))
            if composition is None or not len(composition):
                raise ValueError(f"no formula ({value!r})")
        except Exception as exc:  # pymatgen's "... is an invalid formula!"
            unreadable[source_id] = f"{type(exc).__name__}: {str(exc)[:120]}"
            formulas.append(None)
            continue
        if dummies := unknown_elements(composition):
            unknown[source_id] = ", ".join(dummies)
        formulas.append(composition.formula)
    problems = []
    if unreadable:
        problems.append(f"{at}: {len(unreadable)} of {len(ids)} formulas cannot be read, ids: "
                        f"{ids_text(unreadable, unreadable)}")
    if unknown:
        problems.append(f"{at}: {len(unknown)} of {len(ids)} formulas hold an unknown element, ids: "
                        f"{ids_text(unknown, unknown)}")
    return formulas, problems


def describe(entry: Dict[str, Any]) -> str:
    """One line for logs: format and path."""
    return f"{dataset_format(entry)} {os.fspath(entry['path'])}"
