"""The workflow's own record and other people's records in its tables, on a tiny real run (config/demo.yaml cut to
phonons_top, ERM, one seed, two epochs, the edge_train reference, no random twin): the run writes
results/record.json.gz, which `extrapbench compare` reads; a second run whose `records:` names a renamed copy of it
shows that copy's rows, marked external and unranked, in the main tables; a record on another split stops them."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

TASK = "phonons_top"
RUN = f"results/runs/{TASK}/magpie_mlp/erm/seed0"


def tiny_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config.update({"data_home": str(SHIPPED_DATA_HOME), "tasks": [TASK], "methods": {"erm": {"loss": "l1"}},
                   "seeds": [0], "references": {"edge_train": {}}, "in_distribution": None})
    config["train"]["max_epochs"] = 2
    config.pop("selection", None)  # its grid is MEX's
    return config


def snakemake(workdir, *targets):
    # the targets before --configfile, which takes every word after it as a file
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s",
                           str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), *targets,
                           "--configfile", str(workdir / "config.yaml")],
                          capture_output=True, text=True, timeout=600)


def read_json(path):
    return json.loads(path.read_text())


def read_csv(path):
    return pd.read_csv(path, dtype={"id": str}, float_precision="round_trip")


def renamed(record: dict, entry: str, name: str) -> dict:
    """`record` as another person's: its trained entry renamed `entry`, the record named `name`."""
    other = copy.deepcopy(record)
    other["name"] = name
    entries = other["tasks"][TASK]["entries"]
    other["tasks"][TASK]["entries"] = {(entry if key == "magpie_mlp/erm" else key): value
                                       for key, value in entries.items()}
    return other


def with_records(source, destination, records: dict, **config):
    """A copy of the finished run `source` (results and Snakemake's metadata: nothing retrains) whose config names
    `records` (file name -> record document, written there)."""
    from extrapbench.records.record import write_record

    shutil.copytree(source, destination)
    for name, document in records.items():
        write_record(document, destination / name)
    settings = {**yaml.safe_load((source / "config.yaml").read_text()), "records": list(records), **config}
    (destination / "config.yaml").write_text(yaml.safe_dump(settings))
    return destination


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("record_run")
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture(scope="module")
def record(first_run):
    from extrapbench.records.record import read_record

    return read_record(first_run / "results" / "record.json.gz")


def test_the_workflow_writes_its_record_from_its_runs_and_splits(first_run, record):
    from extrapbench.records.workflow import read_split_csv
    from extrapbench.splits.task_split import split_digest

    results = first_run / "results"
    split = read_json(results / f"splits/{TASK}.json")
    task = record["tasks"][TASK]
    assert split["digest"] == task["split_digest"] == split_digest(read_split_csv(results / f"splits/{TASK}.csv"))
    assert record["units"] == task["units"] == "transformed"
    assert record["config"]["tasks"] == [TASK] and record["config"]["std_ddof"] == 1  # resolved: defaults in
    assert record["references"] == {"edge_train": {}}
    assert task["dataset_digest"].startswith("matbench_phonons.json.gz:")
    assert task["parts"] == ["train", "val", "test"]
    assert {entry: content["role"] for entry, content in task["entries"].items()} == {
        "magpie_mlp/erm": "model", "edge_train": "reference"}
    assert task["entries"]["magpie_mlp/erm"]["params"] == {"backbone": "magpie_mlp", "method": "erm"}
    for entry, folder, metrics_folder in (
            ("magpie_mlp/erm", results.parent / RUN, results.parent / RUN),
            ("edge_train", results / f"references/{TASK}/edge_train/seed0",
             results / f"runs/{TASK}/magpie_mlp/edge_train/seed0")):
        seed = task["entries"][entry]["seeds"]["0"]
        predictions = read_csv(folder / "predictions.csv")
        assert seed["predictions"] == dict(zip(predictions["id"], predictions["y_pred"]))
        assert seed["provenance"] == read_json(folder / "provenance.json")
        metrics = read_json(metrics_folder / "metrics.json")
        assert seed["metrics"] == {**metrics, "method": entry, "units": "transformed",
                                   "parts": ["train", "val", "test"]}
    assert record["provenance"]["git"]["commit"]
    assert record["device"] == read_json(first_run / RUN / "provenance.json")["device"]


def test_the_record_reads_back_through_the_api_without_the_data(record, first_run):
    from extrapbench.api import Benchmark

    bench = Benchmark.from_file(first_run / "results" / "record.json.gz")
    scores = bench.scores().set_index("entry")
    assert scores.loc["magpie_mlp/erm", "mae_mean"] == read_json(first_run / RUN / "metrics.json")["mae"]
    assert scores.loc["magpie_mlp/erm", "role"] == "model" and scores.loc["edge_train", "role"] == "reference"
    assert scores.loc["magpie_mlp/erm", "vs_edge_train"] in ("beats", "≈", "trails")
    assert bench.tasks[TASK].split_digest == record["tasks"][TASK]["split_digest"]


def test_compare_reads_the_workflow_record_beside_another(first_run, record, tmp_path):
    from extrapbench.records.record import write_record

    write_record(renamed(record, "theirs", "theirs"), tmp_path / "theirs.json.gz")
    result = subprocess.run([sys.executable, "-m", "extrapbench", "compare", str(first_run / "results/record.json.gz"),
                             str(tmp_path / "theirs.json.gz"), "--out", str(tmp_path / "out")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    mae = read_json(first_run / RUN / "metrics.json")["mae"]
    table = pd.read_csv(tmp_path / "out" / "mae.csv").set_index("method")
    assert table.loc["magpie_mlp/erm", f"{TASK}_mean"] == pytest.approx(mae, rel=1e-12)
    assert table.loc["theirs", f"{TASK}_mean"] == pytest.approx(mae, rel=1e-12)
    assert table.loc["edge_train", "role"] == "reference"
    assert (tmp_path / "out" / "skill.md").exists()


@pytest.fixture(scope="module")
def second_run(first_run, record, tmp_path_factory):
    workdir = with_records(first_run, tmp_path_factory.mktemp("with_records") / "run",
                           {"theirs.json.gz": renamed(record, "theirs", "theirs")})
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, result


def test_a_records_rows_join_the_main_tables_marked_external_and_unranked(second_run, record):
    workdir, result = second_run
    assert not re.search(r"^\s*(local)?rule train", result.stdout + result.stderr, re.M), "a record retrained a run"
    tables = workdir / "results" / "tables"
    own = read_json(workdir / RUN / "metrics.json")
    markdown = (tables / "mae.md").read_text()
    row = re.search(r"^\| external \| ext: theirs \| (\S+) .*\| (\S+) \|$", markdown, re.M)
    assert row, markdown
    assert row.group(1) == f"{own['mae']:.3f}(—)" and row.group(2) == "—"  # no std (one seed), no rank
    assert re.search(r"^\| external \| ref: Edge \(train\) \|", markdown, re.M)
    # the run's own block still comes first, ranked among its own rows only
    assert markdown.index("| Magpie-MLP | ERM |") < markdown.index("| external | ext: theirs |")
    assert re.search(r"^\| Magpie-MLP \| ERM \| .* \| 1\.00 \|$", markdown, re.M)
    commit = record["provenance"]["git"]["commit"][:10]
    assert f"ext: theirs (entry 'theirs'): record theirs.json.gz (name 'theirs', commit {commit}" in markdown
    assert "never ranked, never marked" in markdown
    frame = pd.read_csv(tables / "mae.csv").set_index("method")
    assert frame.loc["ext: theirs", "role"] == "external" and pd.isna(frame.loc["ext: theirs", "avg_rank"])
    assert frame.loc["ext: theirs", f"{TASK}_mean"] == pytest.approx(own["mae"], rel=1e-12)
    for name in ("gm", "spearman", "skill", "mae_all_methods"):
        assert "| external | ext: theirs |" in (tables / f"{name}.md").read_text(), name
    skill = pd.read_csv(tables / "skill.csv")
    assert skill.loc[skill["method"] == "ext: theirs", "role"].tolist() == ["external"]
    # summary.csv, which the figures and the other tables read, stays the run's own
    assert "ext: theirs" not in set(pd.read_csv(tables / "summary.csv")["method"])


def test_a_record_on_another_split_stops_the_tables_or_is_skipped_when_asked(first_run, record, tmp_path):
    other = renamed(record, "theirs", "theirs")
    other["tasks"][TASK]["split_digest"] = "0" * 64
    ours = record["tasks"][TASK]["split_digest"]
    workdir = with_records(first_run, tmp_path / "stop", {"other_split.json.gz": other})
    result = snakemake(workdir, "results/tables/mae.md")
    assert result.returncode != 0
    assert (f"task {TASK}: record other_split.json.gz was scored on split {'0' * 64}, this run's split is {ours}: "
            f"a record's rows join the tables only on the same split") in result.stderr, result.stderr[-3000:]

    workdir = with_records(first_run, tmp_path / "skip", {"other_split.json.gz": other}, records_other_split="skip")
    result = snakemake(workdir, "results/tables/mae.md")
    assert result.returncode == 0, result.stderr[-3000:]
    markdown = (workdir / "results/tables/mae.md").read_text()
    assert "ext:" not in markdown.split("\n\n")[0]
    assert f"record other_split.json.gz: not shown on {TASK}: scored on another split" in markdown
