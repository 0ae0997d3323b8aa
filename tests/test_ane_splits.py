"""Paper B's split kinds and datasets: the registered splits reproduce the authors' own HOIP and MPS splits, the
data source loads the shipped files and rebuilds them from the authors' archive layout, and bad input is named."""
from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from extrapbench.data.errors import DatasetUnavailableError
from extrapbench.data.datasets import dataset_has_structures, load_dataset_table
from extrapbench.splits.task_split import make_split, task_table
from extrapbench.tasks import BUILTIN_TASKS, PAPER_TASK_ORDER

ANE_HOME = REPO / "data" / "ane"
MATMINER_HOME = REPO / "data" / "matminer"


@pytest.fixture(scope="module")
def hoip():
    return load_dataset_table("hoip", MATMINER_HOME, ANE_HOME)


@pytest.fixture(scope="module")
def mps():
    return load_dataset_table("mps", MATMINER_HOME, ANE_HOME)


def split_of(task_id, table):
    task = BUILTIN_TASKS[task_id]
    return make_split(task, task_table(task, table))


@pytest.mark.parametrize("task_id, variant, elements", [("hoip_high_band_gap", "hoip_high", {"Ge", "F"}),
                                                         ("hoip_low_band_gap", "hoip_low", {"Pb", "I"})])
def test_held_out_elements_reproduces_the_authors_hoip_split(hoip, task_id, variant, elements):
    summary = split_of(task_id, hoip)
    authors = hoip[f"ane_split_{variant}"]
    assert set(summary["test"]["ids"]) == set(authors.index[authors == "test"])
    assert set(summary["train"]["ids"]) | set(summary["val"]["ids"]) == set(authors.index[authors == "train"])
    sets = hoip["structure"].map(lambda s: {e.symbol for e in s.composition.elements})
    for material in summary["train"]["ids"] + summary["val"]["ids"]:
        assert not elements <= sets[material]  # no training material has the held-out chemistry
    assert all(elements <= sets[m] for m in summary["test"]["ids"])
    # a material with only one of the two elements is a training material ("all", not "any")
    assert any(sets[m] & elements for m in summary["train"]["ids"])


def test_element_count_reproduces_the_authors_mps_split(mps):
    summary = split_of("mps_band_gap", mps)
    assert set(summary["test"]["ids"]) == set(mps.index[mps["ane_split"] == "test"])
    assert set(summary["train"]["ids"]) | set(summary["val"]["ids"]) == set(mps.index[mps["ane_split"] == "train"])
    counts = mps["composition"].map(lambda c: len(__import__("pymatgen.core").core.Composition(c).elements))
    assert counts[summary["train"]["ids"] + summary["val"]["ids"]].max() == 2
    assert counts[summary["test"]["ids"]].min() == 3
    assert summary["n_total"] == 3162 and summary["test"]["n"] == 1523


def test_val_is_a_seeded_fraction_of_the_train_pool(mps):
    task = BUILTIN_TASKS["mps_formation_energy"]
    table = task_table(task, mps)
    first, again = make_split(task, table), make_split(task, table)
    assert first["val"]["ids"] == again["val"]["ids"]
    pool = first["train"]["n"] + first["val"]["n"]
    assert first["val"]["n"] == round(0.15 * pool)
    other_seed = make_split(type(task)(task.id, task.dataset, task.target, task.transform, task.split,
                                       {**task.split_params, "seed": 1}), table)
    assert other_seed["test"]["ids"] == first["test"]["ids"]
    assert other_seed["val"]["ids"] != first["val"]["ids"]
    parts = [set(first[p]["ids"]) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_held_out_elements_any_and_bad_parameters():
    from extrapbench.splits.held_out_elements import held_out_elements_split

    table = pd.DataFrame({"composition": ["NaCl", "KCl", "NaF", "KF", "LiBr", "CsI", "RbBr", "LiI"] * 3},
                         index=[f"m{i:02d}" for i in range(24)])
    any_split = held_out_elements_split(table, ["Na", "F"], match="any", val_fraction=0.2)
    assert set(any_split["test"]) == {i for i, c in table["composition"].items() if c in ("NaCl", "NaF", "KF")}
    all_split = held_out_elements_split(table, ["Na", "F"], match="all", val_fraction=0.2)
    assert set(all_split["test"]) == {i for i, c in table["composition"].items() if c == "NaF"}
    with pytest.raises(ValueError, match="'Xx'.*not an element symbol"):
        held_out_elements_split(table, ["Xx"])
    with pytest.raises(ValueError, match="match must be 'all' or 'any'"):
        held_out_elements_split(table, ["Na"], match="some")
    with pytest.raises(ValueError, match="too few"):
        held_out_elements_split(table, ["Og"])  # nothing held out: an empty test set is an error


def test_element_count_bad_parameters(mps):
    from extrapbench.splits.element_count import element_count_split

    with pytest.raises(ValueError, match="train_max_elements < test_min_elements"):
        element_count_split(mps, train_max_elements=3, test_min_elements=3)
    with pytest.raises(ValueError, match="no 'composition' column"):
        element_count_split(mps.drop(columns=["composition"]))


def test_paper_b_tasks_are_builtin_but_not_paper_columns():
    for task_id in ("hoip_high_band_gap", "hoip_low_band_gap", "mps_formation_energy", "mps_band_gap",
                    "mps_shear_modulus", "mps_bulk_modulus"):
        assert task_id in BUILTIN_TASKS and task_id not in PAPER_TASK_ORDER
    assert len(PAPER_TASK_ORDER) == 7


def test_which_datasets_have_structures():
    assert dataset_has_structures("hoip") and dataset_has_structures("matbench_phonons")
    assert not dataset_has_structures("mps") and not dataset_has_structures("matbench_expt_gap")
    with pytest.raises(DatasetUnavailableError, match="no dataset named 'nope'"):
        dataset_has_structures("nope")


def test_hoip_table_has_structures_and_both_band_gaps(hoip):
    assert len(hoip) == 1345  # perov (1346) has a CIF but no label
    assert {"structure", "composition", "band_gap_GGA", "band_gap_HSE06", "source_id"} <= set(hoip.columns)
    assert hoip["source_id"].iloc[0] == "perov (1)" and hoip.index[0] == "hoip-00000"
    assert (hoip["band_gap_HSE06"] > hoip["band_gap_GGA"]).mean() > 0.95  # HSE06 opens the PBE gap


# --- download: the authors' archive layout, served from a local file ------------------------------------------

def _xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def authors_archive(tmp_path_factory):
    """A small archive laid out like github.com/ngs00/ane at the pinned commit, built from the shipped files."""
    from extrapbench.data.ane import ANE_COMMIT

    root = f"ane-{ANE_COMMIT}/ane/materials_property_prediction/datasets"
    splits = pd.read_csv(ANE_HOME / "hoip_splits.csv")
    keep = sorted(splits["id"].unique(), key=lambda i: int(i.split("(")[1].rstrip(")")))[:30]
    splits = splits[splits["id"].isin(keep)]
    mps = pd.read_csv(ANE_HOME / "mps.csv").groupby("ane_split").head(20)
    with tarfile.open(ANE_HOME / "hoip_cifs.tar.gz") as shipped:
        cifs = {i: shipped.extractfile(f"hoip_cifs/{i}.cif").read() for i in keep}
    path = tmp_path_factory.mktemp("archive") / "ane.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for (variant, part), sheet in splits.groupby(["variant", "ane_split"]):
            _add(tar, f"{root}/{variant}/metadata_{part}.xlsx",
                 _xlsx(sheet[["id", "band_gap_GGA", "band_gap_HSE06"]]))
            for source_id in sheet["id"]:
                _add(tar, f"{root}/{variant}/{source_id}.cif", cifs[source_id])
        for part, sheet in mps.groupby("ane_split"):
            _add(tar, f"{root}/mps/metadata_{part}.xlsx", _xlsx(sheet.drop(columns=["ane_split"])))
    return path, splits, mps


def test_missing_files_are_rebuilt_from_the_authors_archive(tmp_path, authors_archive):
    from extrapbench.data.ane import load_hoip, load_mps

    archive, splits, mps = authors_archive
    hoip = load_hoip(tmp_path, url=archive.as_uri())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hoip_cifs.tar.gz", "hoip_splits.csv"]
    assert list(hoip["source_id"]) == sorted(splits["id"].unique(), key=lambda i: int(i.split("(")[1][:-1]))
    expected = splits.drop_duplicates("id").set_index("id").loc[hoip["source_id"], "band_gap_GGA"]
    np.testing.assert_allclose(hoip["band_gap_GGA"], expected)
    assert hoip["structure"].map(len).min() > 0
    rebuilt = load_mps(tmp_path, url=archive.as_uri())
    assert list(rebuilt["source_id"]) == list(mps.sort_values("ane_split", ascending=False, kind="stable")["m_id"])
    assert set(rebuilt["ane_split"]) == {"train", "test"}
    # the second load finds the files and never touches the archive
    assert len(load_mps(tmp_path, url=(tmp_path / "absent.tar.gz").as_uri())) == len(rebuilt)


def test_unreachable_source_names_the_files_and_leaves_nothing(tmp_path):
    from extrapbench.data.ane import load_hoip

    with pytest.raises(DatasetUnavailableError) as error:
        load_hoip(tmp_path / "home", url=(tmp_path / "absent.tar.gz").as_uri())
    message = str(error.value)
    assert "'hoip_cifs.tar.gz'" in message and "'hoip_splits.csv'" in message and "ane_data_home" in message
    assert str(tmp_path / "home") in message
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").iterdir())


def test_a_malformed_mps_row_is_named(tmp_path):
    from extrapbench.data.ane import load_mps

    frame = pd.read_csv(ANE_HOME / "mps.csv").head(5)
    frame.loc[3, "form"] = "Fe2O3"
    frame.to_csv(tmp_path / "mps.csv", index=False)
    with pytest.raises(ValueError, match=r"mps.csv row 5, column 'form'"):
        load_mps(tmp_path)


def test_a_split_kind_added_in_one_file_runs_from_task_definitions(phonons_table):
    """held_out_space_group is the README's worked example: one module, then a config task names it."""
    from extrapbench.splits.held_out_space_group import space_group_numbers
    from extrapbench.tasks import get_tasks

    subset = phonons_table.iloc[:300]
    task = get_tasks({"phonons_no_rocksalt": {
        "dataset": "matbench_phonons", "target": "last phdos peak", "transform": "log",
        "split": "held_out_space_group", "split_params": {"space_groups": [225]}}})["phonons_no_rocksalt"]
    summary = make_split(task, task_table(task, subset))
    numbers = space_group_numbers(subset)
    assert summary["test"]["n"] == int((numbers == 225).sum()) > 20
    assert (numbers[summary["test"]["ids"]] == 225).all()
    assert not (numbers[summary["train"]["ids"] + summary["val"]["ids"]] == 225).any()
    with pytest.raises(ValueError, match="numbers 1-230"):
        make_split(get_tasks({"bad": {"dataset": "matbench_phonons", "target": "last phdos peak",
                                      "split": "held_out_space_group",
                                      "split_params": {"space_groups": [231]}}})["bad"], task_table(task, subset))
