"""Reruns follow content, not modification times; a config that drops a seed keeps the finished runs.

One tiny workflow (workflow_copies.TINY: phonons_top, ERM on a small Magpie MLP, seeds 0 and 1 trained by one
train_seeds job, the edge reference) runs once, through profiles/local, which sets the rerun triggers the make
targets use (Makefile RERUN_BY_CONTENT), in its own copy of the repository's code; every scenario dry-runs a copy of
the finished directory and asserts "Nothing to be done" or the jobs planned.
"""
from __future__ import annotations

import ast
import gzip
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import REPO
from workflow_copies import CODE, DATASET_FILE, TINY, copy_code, planned, snakemake

#: every job of the tiny workflow that comes before training
UPSTREAM = {"download_dataset", "featurize_magpie", "split_task"}
FEATURES = "results/features/matbench_phonons/magpie.csv"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = copy_code(tmp_path_factory.mktemp("content_reruns") / "repo")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    assert not planned(snakemake(workdir, "-n"))
    return workdir


@pytest.fixture
def copy_of(finished, tmp_path):
    """The finished directory, copied with its mtimes and Snakemake's records."""
    workdir = tmp_path / "repo"
    shutil.copytree(finished, workdir, symlinks=True)
    return workdir


def later(paths, seconds=100):
    """Set the mtime of every path `seconds` after now: newer than every output."""
    when = time.time() + seconds
    for path in paths:
        os.utime(path, (when, when))


def test_touched_scripts_and_library_modules_rerun_nothing(copy_of):
    later([*copy_of.glob("scripts/*.py"), *copy_of.glob("extrapbench/**/*.py")])
    assert not planned(snakemake(copy_of, "-n"))
    # what the profile's triggers prevent: Snakemake's default ones rerun every job whose script is newer
    default = planned(snakemake(copy_of, "-n", "--rerun-triggers", "mtime", "params", "input", "software-env", "code"))
    assert {"download_dataset", "train_seeds", "predict_reference"} <= set(default)


def test_touched_dataset_files_rerun_nothing(copy_of):
    # the features are over Snakemake's default checksum limit (1 MB): the profile's --max-checksum-file-size
    # records and compares their checksum instead of their mtime
    assert (copy_of / FEATURES).stat().st_size > 1_000_000
    later([copy_of / "data_home" / DATASET_FILE, copy_of / "results/datasets/matbench_phonons.json.gz",
           copy_of / FEATURES, *copy_of.glob("results/splits/*")])
    assert not planned(snakemake(copy_of, "-n"))


#: results/ folders, downstream first: copied in this order, each newer than the ones before
DOWNSTREAM_FIRST = ["figures", "tables", "runs", "references", "logs", "splits", "features", "datasets"]


def adversarial_copy(source, destination):
    """Copy source's Snakemake records and results/ into destination as `cp -r` does (new mtimes), the upstream
    files newest: every input newer than its outputs."""
    def rank(path):
        parts = path.relative_to(source).parts
        if parts[0] == ".snakemake":
            return -1
        return DOWNSTREAM_FIRST.index(parts[1]) if len(parts) > 2 and parts[1] in DOWNSTREAM_FIRST else -1

    files = [p for folder in (".snakemake/metadata", "results") for p in (source / folder).rglob("*") if p.is_file()]
    when = time.time()
    for path in sorted(files, key=lambda p: (rank(p), str(p))):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        when += 1
        os.utime(target, (when, when))


def test_results_copied_into_a_fresh_clone_rerun_nothing(finished, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    # the code the results were made with (the working tree's, copied by the fixture) over the commit's, new mtimes
    for path in (p for name in CODE for p in (finished / name).rglob("*") if p.is_file()):
        target = clone / path.relative_to(finished)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copytree(finished / "data_home", clone / "data_home", dirs_exist_ok=True)
    shutil.copyfile(finished / "config.yaml", clone / "config.yaml")
    adversarial_copy(finished, clone)
    later([*clone.glob("scripts/*.py"), *clone.glob("extrapbench/**/*.py")], seconds=10 ** 6)
    assert not planned(snakemake(clone, "-n"))


def first_statement_line(path, function=None):
    """(line index, indentation) of the first statement after the docstring of the file's first function."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and (function is None or n.name == function))
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
        else node.body
    return body[0].lineno - 1, body[0].col_offset


def test_an_edited_library_function_used_by_training_reruns_training_only(copy_of):
    module = copy_of / "extrapbench/training/optimizer.py"  # imported by the training jobs only
    source = module.read_text()
    line, indent = first_statement_line(module)
    # comments and docstrings are no code: nothing reruns
    words = ast.get_docstring(ast.parse(source)).split()[0]
    assert words in source
    module.write_text("# an added comment\n" + source.replace(words, f"{words} (an edited docstring)", 1))
    assert not planned(snakemake(copy_of, "-n"))
    lines = source.splitlines(keepends=True)
    lines.insert(line, " " * indent + "edited = True  # a statement more\n")
    module.write_text("".join(lines))
    jobs = planned(snakemake(copy_of, "-n"))
    assert jobs["train_seeds"] == 1 and jobs["evaluate_runs"] == 1  # ERM's runs, not the reference's
    assert not (UPSTREAM | {"predict_reference"}) & set(jobs), jobs


def test_a_changed_dataset_byte_reruns_everything_from_the_download(copy_of):
    source = copy_of / "data_home" / DATASET_FILE
    with gzip.open(source, "rt") as handle:
        data = json.load(handle)
    data["data"][0][-1] = data["data"][0][-1] + 1.0  # one label of one material
    with gzip.open(source, "wt") as handle:
        json.dump(data, handle)
    os.utime(source, (time.time() - 10 ** 6,) * 2)  # older than every output: its content decides
    jobs = planned(snakemake(copy_of, "-n"))
    assert UPSTREAM | {"train_seeds", "predict_reference", "evaluate_runs"} <= set(jobs), jobs


def test_a_changed_features_byte_reruns_training_but_not_the_features(copy_of):
    features = copy_of / FEATURES
    text = features.read_text()
    at = text.index("\n") + text[text.index("\n") + 1:].index(",") + 2  # in the first row's first value
    digit = text[at]
    assert digit.isdigit(), text[:400]
    features.write_text(text[:at] + str((int(digit) + 1) % 10) + text[at + 1:])
    jobs = planned(snakemake(copy_of, "-n"))
    assert jobs["train_seeds"] == 1 and not UPSTREAM & set(jobs), jobs


def test_dropping_a_seed_keeps_the_finished_runs_and_reference_predictions(copy_of):
    (copy_of / "one_seed.yaml").write_text(yaml.safe_dump({**TINY, "seeds": [0]}))
    jobs = planned(snakemake(copy_of, "-n", config="one_seed.yaml"))
    # seed 0's training and reference predictions stay; only what reads the set of seeds is redone
    assert not (UPSTREAM | {"train_seeds", "predict_reference"}) & set(jobs), jobs
    assert jobs["evaluate_runs"] == 2, jobs
