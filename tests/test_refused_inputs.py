"""Inputs refused with a message that says what and where: NaN coordinates and unknown elements in a dataset, a
decompression bomb as a dataset file, a YAML alias bomb as a config; and the config check saying which files it
merged and which values came from --config; Snakemake started from workflow/; a HOME that is not a folder."""
from __future__ import annotations

import csv
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME
from workflow_copies import DATASET_FILE, TINY, copy_code, snakemake

from extrapbench.config.entries import MAX_CONFIG_VALUES, ConfigError, load_yaml_file
from extrapbench.config.validate import check_config
from extrapbench.data import compressed, datasets
from extrapbench.data.errors import DataValidationError

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def said(result) -> str:
    """What a command printed (Snakemake writes its errors to either stream)."""
    return result.stdout + result.stderr


def phonons_with(tmp_path, change):
    """data_home with the shipped phonons file, `change(data)` applied to its JSON (columns, index, data)."""
    with gzip.open(SHIPPED_DATA_HOME / DATASET_FILE, "rt") as handle:
        data = json.load(handle)
    change(data)
    (tmp_path / "home").mkdir()
    with gzip.open(tmp_path / "home" / DATASET_FILE, "wt") as handle:
        json.dump(data, handle)  # NaN is written as the JSON extension NaN, which matminer's reader reads
    return tmp_path / "home"


# --- a dataset's structures: finite lattice and coordinates ------------------------------------------------------

@pytest.mark.parametrize("where, what", [("coordinates", "coordinates of site 0"), ("lattice", "lattice")])
def test_non_finite_coordinates_are_refused_when_the_dataset_is_loaded_naming_the_ids(tmp_path, where, what):
    def change(data):
        structure = data["data"][3][data["columns"].index("structure")]
        if where == "lattice":
            structure["lattice"]["matrix"][0][0] = float("nan")
        else:
            structure["sites"][0]["abc"][1] = float("nan")
            structure["sites"][0].pop("xyz", None)

    home = phonons_with(tmp_path, change)
    with pytest.raises(DataValidationError) as raised:
        datasets.load_dataset_table("matbench_phonons", home, tmp_path)
    assert ("'matbench_phonons': 1 of 1265 rows have a structure with a non-finite lattice or site coordinate "
            f"(NaN or inf), first ids: matbench_phonons-00003 ({what})") in str(raised.value)


# --- a composition-only dataset: known elements ------------------------------------------------------------------

def test_an_unknown_element_in_an_mps_composition_names_the_row_and_the_element(tmp_path):
    home = tmp_path / "ane"
    shutil.copytree(REPO / "data" / "ane", home)
    rows = list(csv.reader((home / "mps.csv").open()))
    column = rows[0].index("form")
    rows[8][column] = "{'Qq': 1.0, 'O': 2.0}"  # data row 7 (the header is row 0 of the file)
    with (home / "mps.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DataValidationError) as raised:
        datasets.load_dataset_table("mps", SHIPPED_DATA_HOME, home)
    assert ("'mps': 1 of 3162 rows have a composition with an unknown element, first ids (unknown elements): "
            "mps-00007 (Qq)") in str(raised.value)


# --- decompression bombs --------------------------------------------------------------------------------------------

def test_a_gzip_bomb_as_dataset_file_is_refused_unread_naming_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(compressed, "RATIO_CHECKED_FROM_BYTES", 2 ** 20)  # a small bomb stands for a large one
    (tmp_path / "home").mkdir()
    bomb = tmp_path / "home" / DATASET_FILE
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        for _ in range(64):
            handle.write(b" " * 2 ** 20)  # 64 MB of JSON whitespace in 64 kB
    monkeypatch.setattr("matminer.datasets.utils._validate_dataset", lambda *args, **kwargs: None)
    started = time.time()
    with pytest.raises(DataValidationError) as raised:
        datasets.load_dataset_table("matbench_phonons", tmp_path / "home", tmp_path)
    message = str(raised.value)
    assert f"matminer dataset 'matbench_phonons': {bomb} ({bomb.stat().st_size} bytes, gzip) decompresses to more " \
           f"than {100 * bomb.stat().st_size} bytes" in message
    assert "refused unread (a decompression bomb" in message and "MAX_COMPRESSION_RATIO = 100" in message
    assert "truncated or corrupt" not in message
    assert time.time() - started < 30  # it stopped at the cap


def test_a_dataset_file_over_the_absolute_cap_is_refused(monkeypatch):
    monkeypatch.setattr(compressed, "MAX_DECOMPRESSED_BYTES", 2 ** 20)
    with pytest.raises(DataValidationError, match=r"decompresses to more than 1048576 bytes.*MAX_DECOMPRESSED_BYTES "
                                                  r"= 1048576"):
        compressed.check_decompressed_size(SHIPPED_DATA_HOME / DATASET_FILE, "dataset")
    monkeypatch.undo()
    compressed.check_decompressed_size(SHIPPED_DATA_HOME / DATASET_FILE, "dataset")  # 11 MB, ratio 24: read


# --- YAML alias bombs -----------------------------------------------------------------------------------------------

def alias_bomb(path, levels=9):
    """A config of a few lines whose aliases stand for 10**levels task names."""
    lines = ["a0: &a0 [phonons_top, phonons_top, phonons_top, phonons_top, phonons_top, phonons_top, phonons_top, "
             "phonons_top, phonons_top, phonons_top]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    path.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "tasks"}) + "\n".join(lines)
                    + f"\ntasks: *a{levels - 1}\n")
    return path


def limited_memory():
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2 ** 30, 4 * 2 ** 30))  # a failed check must not take the machine


def test_a_yaml_alias_bomb_is_refused_by_the_config_check(tmp_path):
    bomb = alias_bomb(tmp_path / "bomb.yaml")
    expected = f"refused: it holds more than {MAX_CONFIG_VALUES} values (MAX_CONFIG_VALUES"
    with pytest.raises(ConfigError, match=r"bomb\.yaml: refused: it holds more than"):
        load_yaml_file(bomb)
    with pytest.raises(ConfigError, match="refused: it holds more than"):
        check_config(yaml.safe_load(bomb.read_text()), SCHEMA, source=str(bomb))
    checked = subprocess.run([sys.executable, "-m", "extrapbench.config", str(bomb)], capture_output=True, text=True,
                             timeout=120, preexec_fn=limited_memory)
    assert checked.returncode == 1 and expected in checked.stderr, checked.stderr[-2000:]
    workdir = copy_code(tmp_path / "repo")
    started = time.time()
    parse = snakemake(workdir, "-n", config=str(bomb), preexec_fn=limited_memory, timeout=300)
    assert parse.returncode != 0 and expected in said(parse), said(parse)[-3000:]
    assert "MemoryError" not in said(parse) and time.time() - started < 120


# --- the config's sources: merged files, --config values ----------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_code(tmp_path_factory.mktemp("config_sources") / "repo")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    (workdir / "erm_only.yaml").write_text(yaml.safe_dump({"methods": {"erm": {}}}))
    return workdir


def test_merged_config_files_are_named_in_a_warning(workdir):
    parse = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n", "--configfile", "config.yaml",
                            "erm_only.yaml"], cwd=workdir, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(workdir)})
    assert parse.returncode == 0, parse.stderr[-3000:]
    warning = [line for line in parse.stderr.splitlines() if "config files merged" in line]
    assert warning == [f"extrapbench: WARNING: 2 config files merged, in this order: {workdir / 'config.yaml'}, "
                       f"{workdir / 'erm_only.yaml'}. A later file's keys replace an earlier one's, but mappings "
                       f"(methods, backbones, train, ...) merge key by key, so an earlier file's entries stay unless "
                       f"the later one sets them; lists (tasks, seeds) are replaced. To run one config, give one "
                       f"--configfile."], parse.stderr[-3000:]
    one = snakemake(workdir, "-n")
    assert one.returncode == 0 and "config files merged" not in one.stderr


def test_a_bad_config_value_is_reported_as_coming_from_config_not_the_file(workdir):
    parse = snakemake(workdir, "-n", "--config", "tasks=[no_such_task]")
    assert parse.returncode != 0
    assert (f"invalid value given with --config (tasks=..., over {workdir / 'config.yaml'}):\n"
            f"  - at 'tasks': unknown task 'no_such_task'") in said(parse), said(parse)[-3000:]
    assert "invalid config" not in said(parse)
    (workdir / "bad_seed.yaml").write_text(yaml.safe_dump({**TINY, "seeds": [-1]}))
    parse = snakemake(workdir, "-n", "--config", "tasks=[no_such_task]", config="bad_seed.yaml")
    # each problem where it is: the file's seed, --config's task list (schema problems come first)
    assert f"invalid config {workdir / 'bad_seed.yaml'}:\n  - at 'seeds.0'" in said(parse), said(parse)[-3000:]


def test_overrides_are_told_apart_key_by_key():
    from extrapbench.config.validate import _set_by

    overrides = {"train": {"max_epochs": 5}, "seeds": [0]}
    assert _set_by(overrides, "at 'train.max_epochs': 0 is less than the minimum of 1")
    assert not _set_by(overrides, "at 'train.batch_size': 0 is less than the minimum of 1")
    assert _set_by(overrides, "at 'seeds.0': -1 is less than the minimum of 0")
    assert not _set_by(overrides, "at 'tasks': unknown task 'x'")


# --- where Snakemake runs -------------------------------------------------------------------------------------------

def test_snakemake_started_from_workflow_is_refused_with_the_fix(workdir):
    parse = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n", "--configfile",
                            "../config.yaml"], cwd=workdir / "workflow", capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(workdir)})
    assert parse.returncode != 0
    assert (f"run Snakemake from the repository root, not from {workdir / 'workflow'}: cd {workdir} && snakemake ... "
            f"(or add --directory {workdir})") in said(parse), said(parse)[-3000:]
    assert not (workdir / "workflow" / "results").exists()


def test_a_home_that_is_not_a_folder_has_its_one_line_in_the_docs_and_the_advice_works(workdir, tmp_path):
    docs = (REPO / "docs" / "running.md").read_text()
    line = next(line for line in docs.splitlines() if "HOME" in line and "not a folder" in line)
    assert "XDG_CACHE_HOME" in line and "NotADirectoryError" in line
    home = tmp_path / "home-file"
    home.write_text("")
    env = {**os.environ, "PYTHONPATH": str(workdir), "HOME": str(home)}
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "-n", "--configfile", "config.yaml"]
    broken = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode != 0 and "NotADirectoryError" in said(broken)
    (tmp_path / "cache").mkdir()
    fixed = subprocess.run(command, cwd=workdir, env={**env, "XDG_CACHE_HOME": str(tmp_path / "cache")},
                           capture_output=True, text=True, timeout=300)
    assert fixed.returncode == 0, said(fixed)[-3000:]
