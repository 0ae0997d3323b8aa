"""What a dataset table must be before anything uses it: finite targets and coordinates, known elements, no
material twice. Each problem is one message naming the dataset, how many rows, the first ids and what to do."""
from __future__ import annotations

import pandas as pd

from extrapbench.data.errors import DataValidationError


def builtin_targets(name: str) -> list[str]:
    """The target columns the built-in tasks read from dataset `name` (a config's own task_definitions are
    checked by the split job, extrapbench.splits.task_split.task_table)."""
    from extrapbench.tasks import BUILTIN_TASKS

    return sorted({task.target for task in BUILTIN_TASKS.values() if task.dataset == name})


def first_ids(ids, n: int = 5) -> str:
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
            f"(NaN, inf or text), first ids: {first_ids(bad)} (the number in an id is the row in the source file). "
            f"Fix or remove those rows in the dataset file; nothing was written.")


def structure_key(structure) -> str:
    """Identical structures (same species on the same sites of the same lattice, to 1e-5) get the same key."""
    import hashlib

    import numpy as np

    sites = sorted((str(site.species), *np.round(np.asarray(site.frac_coords) % 1.0, 5) % 1.0)
                   for site in structure)
    text = repr((np.round(structure.lattice.matrix, 5).tolist(), sites))
    return hashlib.sha1(text.encode()).hexdigest()


def non_finite_geometry(structure) -> str:
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


def unknown_elements(composition) -> list[str]:
    """The symbols of a composition (a pymatgen Composition or a formula) that are no element: pymatgen reads a
    symbol it does not know (a CIF's "Xq") as a dummy species rather than failing. [] for known elements, and for
    a text pymatgen cannot read as a formula (that fails where it is read, by name)."""
    from pymatgen.core import Composition
    from pymatgen.core.periodic_table import DummySpecies

    if not isinstance(composition, Composition):
        try:
            composition = Composition(str(composition))
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
        unknown = {i: symbols for i, s in table["structure"].items() if (symbols := unknown_elements(s.composition))}
        if unknown:
            symbols = sorted({s for v in unknown.values() for s in v})
            messages.append(f"dataset {name!r}: {len(unknown)} of {len(table)} rows have a structure with an "
                            f"unknown element ({', '.join(symbols[:5])}), first ids: {first_ids(unknown)}. Fix or "
                            f"remove those structures in the dataset file; nothing was written.")
        # NaN / inf in a lattice or a site would pass to the graphs as a material without neighbours
        not_finite = {i: non_finite_geometry(s) for i, s in table["structure"].items()}
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
        unknown = {i: symbols for i, text in table["composition"].items() if (symbols := unknown_elements(text))}
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
                            f"{first_ids(repeated)} (source ids {first_ids(table.loc[repeated, 'source_id'].unique())}). "
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
                            f"the same value in every column), first ids: {first_ids(first)}. Remove the repeated "
                            f"rows from the dataset file; nothing was written.")
        elif has_structures:
            same = table.index[material.duplicated(keep=False)]
            if len(same):
                logging.getLogger(__name__).warning(
                    "dataset %r: %d rows share a structure with another row but differ in their values (kept: "
                    "distinct measurements of one structure), first ids: %s", name, len(same), first_ids(same))
    if messages:
        raise DataValidationError("\n".join(messages))


#: the dataset table between jobs (results/datasets/{name}.json.gz): gzipped JSON, no pickle. Structures are
#: pymatgen dicts, read back with Structure.from_dict; floats keep every bit (Python's repr).
