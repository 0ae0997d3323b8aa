"""Dataset loading through matminer: offline from data_home, and a clear error when the file is missing."""
from __future__ import annotations

import pytest

from extrapbench.data.errors import DatasetUnavailableError
from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset

from conftest import SHIPPED_DATA_HOME


def test_shipped_phonons_load_offline_with_structures(phonons_table):
    assert len(phonons_table) == 1265
    assert {"structure", "last phdos peak", "composition"} <= set(phonons_table.columns)
    assert phonons_table.index[0] == "matbench_phonons-00000" and phonons_table.index.is_unique
    first = phonons_table["structure"].iloc[0]
    assert first.composition.reduced_formula == phonons_table["composition"].iloc[0]


def test_missing_dataset_offline_names_dataset_file_and_directory(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load_matminer_dataset("matbench_log_gvrh", tmp_path)
    message = str(info.value)
    assert "'matbench_log_gvrh'" in message
    assert "matbench_log_gvrh.json.gz" in message
    assert str(tmp_path.resolve()) in message
    assert not (tmp_path / "matbench_log_gvrh.json.gz").exists()  # no partial file left behind


def test_unknown_dataset_name_is_an_error(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="no dataset named 'matbench_nope'"):
        load_matminer_dataset("matbench_nope", tmp_path)


def test_shear_task_runs_from_a_stand_in_file(tmp_path, phonons_table):
    """matbench_log_gvrh cannot be downloaded here; a stand-in file in matminer's own format (real structures,
    log10(G_VRH)-like targets) goes through the same loading and splitting code a user's download would."""
    from matminer.utils.io import store_dataframe_as_json

    from extrapbench.splits.task_split import make_split, task_table
    from extrapbench.tasks import BUILTIN_TASKS

    stand_in = phonons_table[["structure"]].iloc[:200].copy()
    stand_in["log10(G_VRH)"] = [1.0 + 0.01 * i for i in range(200)]
    store_dataframe_as_json(stand_in.reset_index(drop=True), str(tmp_path / "matbench_log_gvrh.json.gz"),
                            compression="gz")
    table = standardize_dataset("matbench_log_gvrh", load_matminer_dataset("matbench_log_gvrh", tmp_path))
    for task_id in ("shear_modulus_bottom", "shear_modulus_top"):
        summary = make_split(BUILTIN_TASKS[task_id], task_table(BUILTIN_TASKS[task_id], table))
        assert (summary["train"]["n"], summary["val"]["n"], summary["test"]["n"]) == (140, 30, 30)
    assert SHIPPED_DATA_HOME.exists()
