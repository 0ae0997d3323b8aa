"""A user's own dataset in the config (`datasets:`): the shipped example through a real Snakemake run, its ids in
every output, a rebuild on a changed file (and none on a touched one), every bad input refused by the config check
before any job, and the other file formats (extended XYZ, a folder of CIFs, JSON, formulas) read into the same
table."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

EXAMPLE_CONFIG = REPO / "config" / "example_own_dataset.yaml"
EXAMPLE_DATA = REPO / "data" / "examples" / "my_phonons.csv"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TASK = "my_phonons_bottom"


def example_config(path) -> dict:
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["data_home"] = str(SHIPPED_DATA_HOME)
    config["datasets"]["my_phonons"]["path"] = str(path)
    return config


def snakemake(workdir, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s",
                           str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
                           "--configfile", str(workdir / "config.yaml"), *args],
                          capture_output=True, text=True, timeout=1200)


def planned_rules(output: str) -> set[str]:
    return set(re.findall(r"^rule (\w+):$", output, re.M))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """config/example_own_dataset.yaml run to completion in its own directory, its data file copied beside it
    (`path` relative to the directory the workflow runs in, so a copy of the directory reads its own copy)."""
    workdir = tmp_path_factory.mktemp("own_dataset")
    (workdir / "my_phonons.csv").write_bytes(EXAMPLE_DATA.read_bytes())
    (workdir / "config.yaml").write_text(yaml.safe_dump(example_config("my_phonons.csv")))
    start = time.perf_counter()
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    print(f"example_own_dataset.yaml: {time.perf_counter() - start:.0f} s")
    return workdir


def user_ids() -> set[str]:
    return set(pd.read_csv(EXAMPLE_DATA, dtype={"id": str})["id"])


def test_the_users_ids_reach_the_splits_the_predictions_and_the_metrics(finished_run):
    results = finished_run / "results"
    ids = user_ids()
    for split in (results / "splits").glob("*.csv"):
        members = set(pd.read_csv(split, dtype={"id": str})["id"])
        assert members and members <= ids, split
    assert set(pd.read_csv(results / f"splits/{TASK}.csv", dtype={"id": str})["id"]) == ids
    summary = json.loads((results / f"splits/{TASK}.json").read_text())
    assert summary["dataset"] == "my_phonons" and all(i.startswith("ph-") for i in summary["test"]["ids"])
    for method in ("erm", "edge_train", "random_forest", "ridge"):
        for seed in (0, 1):
            run = results / f"runs/{TASK}/magpie_mlp/{method}/seed{seed}"
            # a reference predictor predicts once per task, for every backbone
            predicted = run if method == "erm" else results / f"references/{TASK}/{method}/seed{seed}"
            predictions = pd.read_csv(predicted / "predictions.csv", dtype={"id": str})
            assert set(predictions["id"]) <= ids and set(predictions.loc[predictions["split"] == "test", "id"]) \
                == set(summary["test"]["ids"])
            assert math.isfinite(json.loads((run / "metrics.json").read_text())["mae"])
    assert TASK in (results / "tables/mae.md").read_text()
    features = pd.read_csv(results / "features/my_phonons/magpie.csv", dtype={"id": str})
    assert set(features["id"]) == ids


def test_the_table_lives_apart_from_the_built_in_datasets(finished_run):
    datasets = finished_run / "results/datasets"
    assert (datasets / "own/my_phonons.json.gz").is_file()
    assert sorted(p.name for p in datasets.iterdir()) == ["own"]  # no matbench_phonons.json.gz, nothing else
    from extrapbench.data.datasets import read_dataset_table

    table = read_dataset_table(datasets / "own/my_phonons.json.gz")
    assert set(table.index) == user_ids() and list(table.columns) == ["structure", "composition", "last_phdos_peak"]


def test_a_touched_but_unchanged_file_rebuilds_nothing(finished_run, tmp_path):
    import shutil

    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    later = time.time() + 60
    os.utime(workdir / "my_phonons.csv", (later, later))
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not planned_rules(result.stdout) & {"import_dataset", "featurize_magpie", "split_task"}, \
        result.stdout[-3000:]


def test_an_edited_target_value_rebuilds_the_table_and_the_split(finished_run, tmp_path):
    import shutil

    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    data = pd.read_csv(workdir / "my_phonons.csv", dtype={"id": str})
    data.loc[data["id"] == "ph-0001", "last_phdos_peak"] *= 1.01
    data.to_csv(workdir / "my_phonons.csv", index=False, lineterminator="\n")
    planned = snakemake(workdir, "-n")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert {"import_dataset", "split_task", "featurize_magpie"} <= planned_rules(planned.stdout), planned.stdout[-3000:]
    assert "Params have changed" in planned.stdout
    split = f"results/splits/{TASK}.csv"
    rerun = snakemake(workdir, "--cores", "2", split)  # an option first: --configfile takes several files
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    members = pd.read_csv(workdir / split, dtype={"id": str}).set_index("id")
    new_value = float(data.loc[data["id"] == "ph-0001", "last_phdos_peak"].iloc[0])
    assert members.loc["ph-0001", "target"] == pytest.approx(math.log(new_value), abs=1e-12)
    again = snakemake(workdir, "-n", "--cores", "2", split)
    assert "Nothing to be done" in again.stdout + again.stderr


# --- bad inputs: refused by the config check, one line each, before any job ---------------------------------------
def small_example(tmp_path, mutate=None, rows: int = 12):
    frame = pd.read_csv(EXAMPLE_DATA, dtype={"id": str}).head(rows)
    if mutate is not None:
        mutate(frame)
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    return path


def refusal(config) -> str:
    from extrapbench.config.entries import ConfigError
    from extrapbench.config.validate import validate_config

    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA, "my.yaml")
    return str(caught.value)


def corrupt_coordinates(frame):
    lines = frame.at[2, "cif"].splitlines()
    frame.at[2, "cif"] = "\n".join(line.replace("0.000000", "abc") if line.startswith("  ") and "1" in line
                                   else line for line in lines)


def nan_lattice(frame):
    frame.at[6, "cif"] = re.sub(r"_cell_length_a\s+\S+", "_cell_length_a   nan", frame.at[6, "cif"])


def unknown_element(frame):
    frame.at[7, "cif"] = frame.at[0, "cif"].replace("  Ba  Ba0", "  Xq  Xq0")


@pytest.mark.parametrize("mutate, entry_change, expected", [
    (None, {"path": "nope.csv"}, "at 'datasets.my_phonons.path': nope.csv does not exist (read from {cwd}, the "
     "directory the workflow runs in)"),
    (None, {"structure": "crystal"},
     "at 'datasets.my_phonons.structure': no column 'crystal' in {path}; its columns: 'id', 'cif', 'last_phdos_peak'"),
    (corrupt_coordinates, {},
     "at 'datasets.my_phonons.structure': 1 of 12 structures cannot be read (CIF text, POSCAR text or a pymatgen "
     "dict), ids: ph-0003 (ValueError: Invalid CIF file with no structures!: could not convert string to float: "
     "'abc')"),
    (lambda f: f.__setitem__("id", f["id"].replace("ph-0005", "ph-0004")), {},
     "at 'datasets.my_phonons.id': 1 of the ids name more than one row: ph-0004 (2 rows); ids must be unique"),
    (lambda f: f.__setitem__("last_phdos_peak", f["last_phdos_peak"].where(f["id"] != "ph-0006")), {},
     "at 'datasets.my_phonons.target': 1 of 12 rows have a non-finite or non-numeric 'last_phdos_peak' (NaN, inf, "
     "empty or text), ids: ph-0006"),
    (nan_lattice, {},
     "at 'datasets.my_phonons.structure': 1 of 12 structures have non-finite coordinates (NaN or inf in the "
     "lattice or the sites), ids: ph-0007"),
    (unknown_element, {},
     "at 'datasets.my_phonons.structure': 1 of 12 structures hold an unknown element, ids: ph-0008 (Xq)"),
], ids=["missing path", "missing column", "unparsable CIF", "duplicated ids", "NaN target", "NaN lattice",
        "unknown element"])
def test_a_bad_input_is_refused_with_one_line_naming_it(tmp_path, mutate, entry_change, expected):
    path = small_example(tmp_path, mutate)
    config = example_config(path)
    config["datasets"]["my_phonons"].update(entry_change)
    message = refusal(config)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert lines == [f"  - {expected.format(path=path, cwd=os.getcwd())}"], message


def test_non_finite_site_coordinates_in_a_pymatgen_dict_are_refused(tmp_path):
    from extrapbench.data.own import parse_structure

    frame = pd.read_csv(EXAMPLE_DATA, dtype={"id": str}).head(4)
    records = [{"id": i, "structure": parse_structure(cif).as_dict(), "y": y}
               for i, cif, y in zip(frame["id"], frame["cif"], frame["last_phdos_peak"])]
    records[1]["structure"]["sites"][0]["abc"][2] = float("nan")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(records))  # Python's json writes NaN, and reads it back
    from extrapbench.data.own import dataset_problems

    assert dataset_problems("mine", {"path": str(path), "id": "id", "structure": "structure", "target": "y"}) == [
        "at 'datasets.mine.structure': 1 of 4 structures have non-finite coordinates (NaN or inf in the lattice or "
        "the sites), ids: ph-0002"]


def test_a_name_of_a_built_in_dataset_is_refused(tmp_path):
    config = example_config(small_example(tmp_path))
    config["datasets"] = {"matbench_phonons": config["datasets"]["my_phonons"]}
    config["task_definitions"][TASK]["dataset"] = "matbench_phonons"
    lines = [line for line in refusal(config).splitlines() if line.startswith("  - ")]
    assert lines == ["  - at 'datasets.matbench_phonons': 'matbench_phonons' is the name of a built-in dataset "
                     "(matminer's or paper B's); give your own dataset another name"]


def test_a_task_on_an_unknown_dataset_or_target_is_refused(tmp_path):
    config = example_config(small_example(tmp_path))
    config["task_definitions"]["other"] = {**config["task_definitions"][TASK], "dataset": "my_phonons.csv"}
    config["task_definitions"][TASK]["target"] = "band_gap"
    config["other_split_tasks"] = ["other"]
    lines = [line for line in refusal(config).splitlines() if line.startswith("  - ")]
    assert lines == [
        "  - at 'task_definitions.my_phonons_bottom.target': 'band_gap' is not a target of dataset 'my_phonons'; "
        "its targets (datasets.my_phonons.target): 'last_phdos_peak'",
        "  - at 'task_definitions.other.dataset': no dataset named 'my_phonons.csv': neither a matminer dataset, one "
        "of ['hoip', 'mps'], nor one of the config's own 'datasets:' (name -> {path, id, structure | composition, "
        "target})"]


def test_snakemake_stops_on_a_bad_file_before_any_job(tmp_path):
    path = small_example(tmp_path, unknown_element)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(example_config(path)))
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "at 'datasets.my_phonons.structure': 1 of 12 structures hold an unknown element, ids: ph-0008 (Xq)" \
        in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


# --- the other formats --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def structures():
    from extrapbench.data.own import parse_structure

    frame = pd.read_csv(EXAMPLE_DATA, dtype={"id": str}).head(6)
    return [parse_structure(cif) for cif in frame["cif"]], frame["last_phdos_peak"].to_numpy()


def test_extended_xyz_gives_ids_and_targets_from_each_frames_info(tmp_path, structures):
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    from extrapbench.data.sources import dataset_table, has_structures

    frames = []
    for number, (structure, peak) in enumerate(zip(*structures)):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info.update({"material": f"x-{number}", "peak": float(peak), "energy": -1.5 * number})
        frames.append(atoms)
    path = tmp_path / "mine.extxyz"
    ase.io.write(path, frames, format="extxyz")
    config = {"datasets": {"mine": {"path": str(path), "id": "material", "target": ["peak", "energy"]}}}
    table = dataset_table(config, "mine")
    assert list(table.index) == [f"x-{n}" for n in range(6)] and has_structures(config, "mine")
    np.testing.assert_allclose(table["peak"], structures[1])
    np.testing.assert_allclose(table["energy"], [-1.5 * n for n in range(6)])  # ASE files energy under the calculator
    assert list(table["composition"]) == [s.composition.reduced_formula for s in structures[0]]
    for got, want in zip(table["structure"], structures[0]):
        np.testing.assert_allclose(got.lattice.matrix, want.lattice.matrix, atol=1e-6)


def test_a_folder_of_cifs_with_a_table_keeps_ids_as_written(tmp_path, structures):
    from extrapbench.data.sources import dataset_digest, dataset_file, dataset_table

    folder = tmp_path / "cifs"
    folder.mkdir()
    ids = [f"{n:04d}" for n in range(6)]  # would read as numbers: they stay text
    for source_id, structure in zip(ids, structures[0]):
        (folder / f"{source_id}.cif").write_text(structure.to(fmt="cif"))
    pd.DataFrame({"name": ids, "peak": structures[1]}).to_csv(folder / "ids.csv", index=False)
    config = {"datasets": {"mine": {"path": str(folder), "id": "name", "target": "peak", "table": "ids.csv"}}}
    table = dataset_table(config, "mine")
    assert list(table.index) == ids
    assert list(table["composition"]) == [s.composition.reduced_formula for s in structures[0]]
    assert dataset_file(config, "mine") == "results/datasets/own/mine.json.gz"
    before = dataset_digest(config, "mine")
    (folder / "0003.cif").write_text(structures[0][4].to(fmt="cif"))
    assert dataset_digest(config, "mine") != before
    (folder / "0002.cif").unlink()
    from extrapbench.data.own import dataset_problems

    assert dataset_problems("mine", config["datasets"]["mine"]) == [
        f"at 'datasets.mine.path': 1 of 6 ids of ids.csv have no CIF file <id>.cif in {folder}: 0002"]


def test_json_records_and_a_formula_column_load(tmp_path, structures):
    from extrapbench.data.sources import dataset_table, has_structures

    records = {"id": ["a", "b", "c"], "structure": [s.as_dict() for s in structures[0][:3]], "y": [1.0, 2.0, 3.0]}
    path = tmp_path / "mine.json.gz"
    import gzip

    with gzip.open(path, "wt") as out:
        json.dump(records, out)
    config = {"datasets": {"mine": {"path": str(path), "id": "id", "structure": "structure", "target": "y"},
                           "formulas": {"path": str(tmp_path / "f.csv"), "id": "id", "composition": "formula",
                                        "target": "y"}}}
    assert list(dataset_table(config, "mine").index) == ["a", "b", "c"]
    pd.DataFrame({"id": ["1", "2", "3"], "formula": ["NaCl", "Fe2O3", "Xq2O"], "y": [1.0, 2.0, 3.0]}).to_csv(
        tmp_path / "f.csv", index=False)
    from extrapbench.data.errors import DataValidationError

    with pytest.raises(DataValidationError, match=re.escape(
            "at 'datasets.formulas.composition': 1 of 3 formulas hold an unknown element, ids: 3 (Xq)")):
        dataset_table(config, "formulas")
    pd.DataFrame({"id": ["1", "2"], "formula": ["NaCl", "Fe2O3"], "y": [1.0, 2.0]}).to_csv(tmp_path / "f.csv",
                                                                                       index=False)
    table = dataset_table(config, "formulas")
    assert list(table.index) == ["1", "2"] and list(table["composition"]) == ["Na1 Cl1", "Fe2 O3"]
    assert not has_structures(config, "formulas") and has_structures(config, "mine")


@pytest.fixture(scope="module")
def example_table():
    from extrapbench.data.sources import dataset_table

    return dataset_table(example_config(EXAMPLE_DATA), "my_phonons")


@pytest.mark.parametrize("split, params", [
    ("range", {"side": "bottom"}),
    ("random", {"test_fraction": 0.15, "val_fraction": 0.15, "seed": 0}),
    ("held_out_elements", {"elements": ["O"], "match": "any"}),
    ("element_count", {"train_max_elements": 2, "test_min_elements": 3}),
    ("held_out_space_group", {"space_groups": [225]}),
])
def test_every_split_kind_splits_an_own_dataset_by_its_ids(example_table, split, params):
    from extrapbench.splits.task_split import make_split, task_table
    from extrapbench.tasks import get_tasks

    table = example_table
    task = get_tasks({"t": {"dataset": "my_phonons", "target": "last_phdos_peak", "transform": "log",
                            "split": split, "split_params": params}})["t"]
    summary = make_split(task, task_table(task, table))
    for part in ("train", "val", "test"):
        assert summary[part]["n"] > 0 and set(summary[part]["ids"]) <= user_ids(), part

