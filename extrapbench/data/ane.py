"""Paper B's two non-matminer datasets: HOIP (hybrid organic-inorganic perovskites, with structures) and MPS
(Materials Project compositions), as Na & Park published them with ANE (github.com/ngs00/ane).

Files in ``data_home`` (config key ``ane_data_home``; the repository ships them in data/ane/):

* ``hoip_cifs.tar.gz``: one CIF per material, ``hoip_cifs/<source id>.cif`` (source ids like ``perov (12)``);
* ``hoip_splits.csv``: ``id, band_gap_GGA, band_gap_HSE06, variant, ane_split`` — the authors' two split
  tables (variant ``hoip_high`` / ``hoip_low``, ane_split ``train`` / ``test``) in one file;
* ``mps.csv``: ``m_id, form, form_eng, band_gap, log_s_mod, log_b_mod, poisson_ratio, ane_split`` — the
  authors' MPS train and test sheets in one file (``form`` is a composition dict such as ``{'Ta': 4.0, 'O': 12.0}``).

When a file is missing, :func:`ensure_ane_files` downloads the authors' repository archive at a pinned
commit and rebuilds the three files from it: the split sheets are
``ane/materials_property_prediction/datasets/{hoip_high,hoip_low,mps}/metadata_{train,test}.xlsx`` and each
HOIP CIF sits next to its sheet as ``<id>.cif`` (that is where the authors' own loader reads them,
``util/crystal.py``). The sheets' columns are taken by position, in the order of the files above. A failed
download leaves nothing behind and ends in one error that names the files and the directory to put them in. The
archive's sha256 is checked against ``ANE_ARCHIVE_SHA256`` when that is pinned (it is not yet: see there).
"""
from __future__ import annotations

import ast
import io
import os
import re
import tarfile
import tempfile
import urllib.request
import warnings
from pathlib import Path

import pandas as pd

from extrapbench.data.errors import DatasetUnavailableError
from extrapbench.files import write_atomic

ANE_REPOSITORY = "ngs00/ane"
ANE_COMMIT = "159dc453f0c366956da981d8b4e3e6aeefcb8d32"
ANE_ARCHIVE_URL = f"https://codeload.github.com/{ANE_REPOSITORY}/tar.gz/{ANE_COMMIT}"
#: sha256 of the archive at ANE_ARCHIVE_URL. When set, a downloaded archive whose bytes differ is refused before
#: anything is read from it. It is None because the archive could not be fetched where this code was written (no
#: access to GitHub); until it is pinned, every download prints the digest it got ("not verified") so that it can be
#: pinned here from a trusted download. The shipped data/ane files need no download.
ANE_ARCHIVE_SHA256: str | None = None
_SHEETS_DIR = "ane/materials_property_prediction/datasets"

HOIP_FILES = ("hoip_cifs.tar.gz", "hoip_splits.csv")
MPS_FILES = ("mps.csv",)
FILES_OF = {"hoip": HOIP_FILES, "mps": MPS_FILES}
HOIP_COLUMNS = ["id", "band_gap_GGA", "band_gap_HSE06"]
MPS_COLUMNS = ["m_id", "form", "form_eng", "band_gap", "log_s_mod", "log_b_mod", "poisson_ratio"]
HOIP_VARIANTS = ("hoip_high", "hoip_low")


def ensure_ane_files(name: str, data_home: str | os.PathLike, url: str = ANE_ARCHIVE_URL,
                     sha256: str | None = None) -> dict[str, Path]:
    """Paths of dataset ``name``'s files in data_home, downloading and converting the authors' archive first
    when any of them is missing. The archive's sha256 is checked against `sha256` (default: ANE_ARCHIVE_SHA256
    for the pinned URL) when one is known."""
    if sha256 is None and url == ANE_ARCHIVE_URL:
        sha256 = ANE_ARCHIVE_SHA256
    if name not in FILES_OF:
        raise DatasetUnavailableError(f"no ANE dataset named {name!r}; known: {', '.join(FILES_OF)}")
    data_home = Path(data_home).resolve()
    paths = {file: data_home / file for file in FILES_OF[name]}
    missing = [file for file, path in paths.items() if not path.exists()]
    if not missing:
        return paths
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "ane.tar.gz"
            _download(url, archive)
            _check_digest(archive, url, sha256)
            with tarfile.open(archive) as tar:
                _convert_archive(name, tar, data_home)
    except Exception as exc:  # network, missing members, unreadable sheets
        raise DatasetUnavailableError(
            f"ANE dataset {name!r}: {', '.join(repr(f) for f in missing)} missing from {str(data_home)!r} and "
            f"could not be built from {url} ({type(exc).__name__}: {exc}). Put the files "
            f"{', '.join(FILES_OF[name])} in that directory (config key 'ane_data_home'); this repository ships "
            f"them in data/ane/.") from exc
    return paths


def _download(url: str, destination: Path) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {url.rsplit('/', 1)[-1]}") as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def _check_digest(archive: Path, url: str, expected: str | None) -> None:
    import hashlib

    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if expected is None:
        print(f"warning: {url}: sha256 {digest} not verified (no digest pinned: extrapbench.data.ane."
              f"ANE_ARCHIVE_SHA256)", flush=True)
    elif digest != expected.lower():
        raise ValueError(f"the archive's sha256 is {digest}, expected {expected}: refused (a changed or tampered "
                         f"download)")


def _sheet_members(tar: tarfile.TarFile, variant: str) -> dict[str, tarfile.TarInfo]:
    """{'train': member, 'test': member} of one variant's metadata sheets (the archive has a top folder)."""
    found = {}
    for member in tar.getmembers():
        match = re.search(rf"(^|/){re.escape(_SHEETS_DIR)}/{variant}/metadata_(train|test)\.xlsx$", member.name)
        if match:
            found[match.group(2)] = member
    if set(found) != {"train", "test"}:
        raise FileNotFoundError(f"{_SHEETS_DIR}/{variant}/metadata_{{train,test}}.xlsx not in the archive")
    return found


def _read_sheet(tar: tarfile.TarFile, member: tarfile.TarInfo, columns: list[str]) -> pd.DataFrame:
    sheet = pd.read_excel(io.BytesIO(tar.extractfile(member).read()))
    if sheet.shape[1] < len(columns):
        raise ValueError(f"{member.name}: {sheet.shape[1]} columns, expected at least {len(columns)} ({columns})")
    sheet = sheet.iloc[:, :len(columns)]
    sheet.columns = columns
    return sheet


def _convert_archive(name: str, tar: tarfile.TarFile, data_home: Path) -> None:
    data_home.mkdir(parents=True, exist_ok=True)
    if name == "mps":
        members = _sheet_members(tar, "mps")
        parts = [_read_sheet(tar, members[part], MPS_COLUMNS).assign(ane_split=part) for part in ("train", "test")]
        table = pd.concat(parts, ignore_index=True)
        write_atomic(lambda p: table.to_csv(p, index=False), data_home / "mps.csv")
        return
    rows, cifs = [], {}
    for variant in HOIP_VARIANTS:
        members = _sheet_members(tar, variant)
        for part in ("train", "test"):
            sheet = _read_sheet(tar, members[part], HOIP_COLUMNS).assign(variant=variant, ane_split=part)
            sheet["id"] = sheet["id"].astype(str)
            rows.append(sheet)
            folder = members[part].name.rsplit("/", 1)[0]
            for source_id in sheet["id"]:
                if source_id not in cifs:
                    cifs[source_id] = tar.getmember(f"{folder}/{source_id}.cif")
    splits = pd.concat(rows, ignore_index=True)

    def write_cifs(path: Path) -> None:
        with tarfile.open(path, "w:gz") as out:
            for source_id, member in cifs.items():
                data = tar.extractfile(member).read()
                info = tarfile.TarInfo(f"hoip_cifs/{source_id}.cif")
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))

    write_atomic(write_cifs, data_home / "hoip_cifs.tar.gz")
    write_atomic(lambda p: splits.to_csv(p, index=False), data_home / "hoip_splits.csv")


def _source_number(source_id: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", source_id)
    return (int(digits[-1]) if digits else -1, source_id)


def load_hoip(data_home: str | os.PathLike, url: str = ANE_ARCHIVE_URL, sha256: str | None = None) -> pd.DataFrame:
    """One row per labelled HOIP material: source_id, structure, both band gaps and the authors' split of each
    variant (columns ``ane_split_hoip_high`` / ``ane_split_hoip_low``), in source-id order."""
    from pymatgen.core import Structure

    paths = ensure_ane_files("hoip", data_home, url, sha256)
    splits = pd.read_csv(paths["hoip_splits.csv"], dtype={"id": str})
    missing_columns = set(HOIP_COLUMNS + ["variant", "ane_split"]) - set(splits.columns)
    if missing_columns:
        raise ValueError(f"{paths['hoip_splits.csv']}: missing columns {sorted(missing_columns)}")
    labels = splits.drop_duplicates("id").set_index("id")[["band_gap_GGA", "band_gap_HSE06"]]
    for variant, part in splits.groupby("variant"):
        labels[f"ane_split_{variant}"] = part.set_index("id")["ane_split"].reindex(labels.index)
    structures, unreadable = {}, []
    from extrapbench.data.compressed import check_decompressed_size

    check_decompressed_size(paths["hoip_cifs.tar.gz"], "dataset 'hoip'")
    with tarfile.open(paths["hoip_cifs.tar.gz"]) as tar, warnings.catch_warnings():
        # the CIFs give the space group by name only, which pymatgen reports once per file
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pymatgen\.io\.cif")
        for member in tar.getmembers():
            source_id = Path(member.name).stem
            if member.isfile() and member.name.endswith(".cif") and source_id in labels.index:
                try:
                    structures[source_id] = Structure.from_str(tar.extractfile(member).read().decode(), fmt="cif")
                except Exception as exc:  # unknown element, malformed CIF
                    unreadable.append(f"{member.name} ({type(exc).__name__}: {str(exc)[:100]})")
    if unreadable:
        from extrapbench.data.errors import DataValidationError

        raise DataValidationError(
            f"dataset 'hoip': {len(unreadable)} of {len(labels)} structures cannot be read, first: "
            f"{', '.join(unreadable[:3])}{' ...' if len(unreadable) > 3 else ''}. The archive "
            f"{paths['hoip_cifs.tar.gz']} is readable otherwise (not a download problem): fix or remove those CIFs.")
    without_cif = sorted(set(labels.index) - set(structures))
    if without_cif:
        raise ValueError(f"{paths['hoip_cifs.tar.gz']}: no CIF for {len(without_cif)} labelled materials, "
                         f"e.g. {without_cif[:3]}")
    order = sorted(labels.index, key=_source_number)
    table = labels.loc[order].reset_index(names="source_id")
    table.insert(1, "structure", [structures[i] for i in order])
    return table


def parse_composition_dict(text: str) -> str:
    """``"{'Ta': 4.0, 'O': 12.0}"`` -> ``"Ta4 O12"`` (a formula pymatgen's Composition reads)."""
    from pymatgen.core import Composition

    amounts = ast.literal_eval(text)
    if not isinstance(amounts, dict) or not amounts:
        raise ValueError(f"expected a non-empty composition dict, got {text!r}")
    return Composition(amounts).formula


def load_mps(data_home: str | os.PathLike, url: str = ANE_ARCHIVE_URL, sha256: str | None = None) -> pd.DataFrame:
    """One row per MPS material (file order): source_id (Materials Project id), composition, n_elements, the
    four targets, poisson_ratio and the authors' split (``ane_split``). No structures."""
    paths = ensure_ane_files("mps", data_home, url, sha256)
    table = pd.read_csv(paths["mps.csv"])
    missing_columns = set(MPS_COLUMNS + ["ane_split"]) - set(table.columns)
    if missing_columns:
        raise ValueError(f"{paths['mps.csv']}: missing columns {sorted(missing_columns)}")
    compositions = []
    for row, text in enumerate(table["form"]):
        try:
            compositions.append(parse_composition_dict(text))
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"{paths['mps.csv']} row {row + 2}, column 'form': {exc}") from None
    out = table.drop(columns=["form"]).rename(columns={"m_id": "source_id"})
    out.insert(1, "composition", compositions)
    return out

