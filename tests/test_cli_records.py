"""Scoring predictions made outside the workflow: `extrapbench split` / `score` / `compare`, the Python API
(extrapbench.api) and the record file, on the shipped matbench_phonons data and config/demo.yaml."""
from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

CONFIG = str(REPO / "config" / "demo.yaml")
# ridge on Magpie features (a reference predictor) meets an ill-conditioned matrix on phonons, as in the workflow
pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
TASK = "phonons_top"
#: the references without the random forest (500 trees per seed: tens of seconds on 2 cores)
FAST_REFERENCES = "edge_train,edge_known,train_mean,ridge"
CONSTANTS = "edge_train,edge_known,train_mean"


def run_cli(*args, cwd=REPO, env=None):
    """`python -m extrapbench ARGS` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "extrapbench", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def read_csv(path):
    return pd.read_csv(path, dtype={"id": str}, float_precision="round_trip")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    result = run_cli("split", TASK, "--config", CONFIG, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def bench_factory(cache_dir):
    """Benchmarks of config/demo.yaml's phonons_top sharing one loaded split per units."""
    from extrapbench.api import Benchmark

    splits = {}

    def make(units="raw", references=CONSTANTS.split(","), name="model"):
        bench = Benchmark.from_config(CONFIG, tasks=[TASK], units=units, references=references, name=name,
                                      cache_dir=cache_dir)
        if "split" not in splits:
            splits["split"] = bench.tasks[TASK].split
        bench.tasks[TASK]._split = splits["split"]
        return bench
    return make


def element_fractions(compositions: pd.Series) -> np.ndarray:
    """A quick composition featurisation (fraction of each element) for the scikit-learn model of the tests."""
    from pymatgen.core import Composition

    fractions = [Composition(c).fractional_composition.get_el_amt_dict() for c in compositions]
    elements = sorted({e for f in fractions for e in f})
    return np.array([[f.get(e, 0.0) for e in elements] for f in fractions]), elements


# ----------------------------------------------------------------------------------------------------------
# split
# ----------------------------------------------------------------------------------------------------------

def test_split_writes_the_parts_and_the_workflows_split(split_dir, tmp_path):
    """The parts of `extrapbench split` are the workflow split rule's (extrapbench.jobs.split.split_task on the
    download rule's dataset table), member for member, with the same digest."""
    from extrapbench.data.datasets import load_dataset_table, write_dataset_table
    from extrapbench.jobs.split import split_task
    from extrapbench.splits.task_split import split_digest
    from extrapbench.tasks import BUILTIN_TASKS

    document = json.loads((split_dir / "split.json").read_text())
    table = load_dataset_table("matbench_phonons", REPO / "data" / "matminer", REPO / "data" / "ane")
    write_dataset_table(table, tmp_path / "matbench_phonons.json.gz")
    split_task(BUILTIN_TASKS[TASK], tmp_path / "matbench_phonons.json.gz", tmp_path / f"{TASK}.csv",
               tmp_path / f"{TASK}.json", split_ties="held_out")
    workflow = json.loads((tmp_path / f"{TASK}.json").read_text())
    for part in ("train", "val", "test"):
        assert document["ids"][part] == workflow[part]["ids"]
        frame = read_csv(split_dir / f"{part}.csv")
        assert list(frame["id"]) == workflow[part]["ids"]
        assert list(frame.columns) == ["id", "composition", "structure", "target_raw", "target_transformed"]
        assert np.allclose(np.log(frame["target_raw"]), frame["target_transformed"], rtol=0, atol=1e-12)
        assert frame["structure"].iloc[0].startswith("# generated using pymatgen")
        assert document[part]["n"] == len(frame)
    assert document["split_digest"] == split_digest(read_csv(tmp_path / f"{TASK}.csv"))
    assert workflow["digest"] == document["split_digest"]  # the split rule writes it into the summary
    assert document["dataset_digest"].startswith("matbench_phonons.json.gz:")


# ----------------------------------------------------------------------------------------------------------
# score, end to end through the console entry point
# ----------------------------------------------------------------------------------------------------------

def test_split_then_sklearn_then_score_end_to_end(split_dir, cache_dir, tmp_path):
    from sklearn.linear_model import Ridge

    train, val, test = (read_csv(split_dir / f"{part}.csv") for part in ("train", "val", "test"))
    x, elements = element_fractions(pd.concat([train, val, test])["composition"])
    x_train, x_val, x_test = x[:len(train)], x[len(train):len(train) + len(val)], x[len(train) + len(val):]
    predictions = []
    for seed, alpha in ((0, 0.1), (1, 1.0)):  # two "seeds" of the model
        model = Ridge(alpha=alpha).fit(x_train, train["target_transformed"])
        path = tmp_path / f"seed{seed}.csv"
        frame = pd.concat([pd.DataFrame({"id": val["id"], "y_pred": np.exp(model.predict(x_val))}),
                           pd.DataFrame({"id": test["id"], "y_pred": np.exp(model.predict(x_test))})])
        frame.to_csv(path, index=False)
        predictions.append((path, frame))
    scores_json, record = tmp_path / "scores.json", tmp_path / "record.json.gz"
    started = time.perf_counter()
    result = run_cli("score", TASK, *[p for p, _ in predictions], "--config", CONFIG, "--references",
                     FAST_REFERENCES, "--out", scores_json, "--record", record, "--name", "sk_ridge",
                     "--cache-dir", cache_dir)
    assert result.returncode == 0, result.stderr
    print(f"score: {time.perf_counter() - started:.1f} s")
    document = json.loads(scores_json.read_text())
    rows = {row["entry"]: row for row in document["scores"]}
    assert set(rows) == {"sk_ridge", *FAST_REFERENCES.split(",")}
    mine = rows["sk_ridge"]
    for key in ("mae", "gm", "spearman", "r2", "val_mae", "detect_recall", "detect_recall_release"):
        assert math.isfinite(mine[f"{key}_mean"]), key
    # the truth is the split's: the MAE by hand from test.csv, in raw units (the default)
    by_hand = [np.mean(np.abs(frame.set_index("id").loc[test["id"], "y_pred"].to_numpy() - test["target_raw"]))
               for _, frame in predictions]
    assert mine["mae_mean"] == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert mine["skill_mean"] == pytest.approx(1 - np.mean(by_hand) / rows["edge_train"]["mae_mean"], rel=1e-9)
    assert {mine["vs_edge_train"], mine["vs_edge_known"], mine["vs_ridge"]} <= {"beats", "≈", "trails"}
    assert document["parts"] == ["val", "test"] and document["units"] == "raw"
    assert "| sk_ridge |" in result.stdout and "ref: Edge (train)" in result.stdout
    assert record.exists()


# ----------------------------------------------------------------------------------------------------------
# definitions: skill, units, the truth
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("units", ["raw", "transformed"])
def test_a_constant_at_the_train_edge_scores_skill_exactly_zero(bench_factory, units):
    bench = bench_factory(units)
    task = bench.tasks[TASK]
    edge = task.train()["target"].max()  # a top task: the train maximum
    task.record(0, {i: edge for i in task.test_inputs()["id"]})
    scores = bench.scores().set_index("entry")
    assert scores.at["model", "skill_mean"] == 0.0
    assert scores.at["model", "mae_mean"] == scores.at["edge_train", "mae_mean"]
    assert scores.at["model", "vs_edge_train"] == "≈"
    assert scores.at["edge_known", "vs_edge_train"] == "beats"


def test_raw_and_transformed_units_each_give_the_mae_in_their_units(bench_factory):
    raw, transformed = bench_factory("raw"), bench_factory("transformed")
    test = raw.tasks[TASK].split.part_table("test", "raw")
    rng = np.random.default_rng(0)
    predicted_log = test["target_transformed"].to_numpy() + rng.normal(0.0, 0.2, len(test))
    transformed_metrics = transformed.tasks[TASK].record(0, dict(zip(test["id"], predicted_log)))
    raw_metrics = raw.tasks[TASK].record(0, dict(zip(test["id"], np.exp(predicted_log))))
    # by hand, in each unit
    assert transformed_metrics["mae"] == pytest.approx(np.mean(np.abs(predicted_log - np.log(test["target_raw"]))),
                                                       rel=1e-12)
    assert raw_metrics["mae"] == pytest.approx(np.mean(np.abs(np.exp(predicted_log) - test["target_raw"])), rel=1e-12)
    first = test.iloc[0]
    assert abs(np.exp(predicted_log[0]) - first["target_raw"]) == pytest.approx(
        abs(math.exp(predicted_log[0]) - first["target_raw"]))
    assert raw_metrics["mae"] > 100 > 1 > transformed_metrics["mae"]  # cm⁻¹ against ln units
    # a monotone transform keeps ranks and which predictions lie beyond the train range
    assert raw_metrics["spearman"] == pytest.approx(transformed_metrics["spearman"], abs=1e-12)
    assert raw_metrics["detect_recall"] == transformed_metrics["detect_recall"]
    # the reference predictors are the same predictors in either unit: the edge constant is the raw label itself
    raw_scores, log_scores = raw.scores().set_index("entry"), transformed.scores().set_index("entry")
    train = raw.tasks[TASK].train()
    assert raw_scores.at["edge_train", "mae_mean"] == pytest.approx(
        np.mean(np.abs(train["target_raw"].max() - test["target_raw"])), rel=1e-12)
    assert log_scores.at["edge_train", "mae_mean"] == pytest.approx(
        np.mean(np.abs(train["target_transformed"].max() - test["target_transformed"])), rel=1e-12)


def test_a_planted_y_true_column_is_ignored_with_a_warning(split_dir, cache_dir, tmp_path, capsys):
    from extrapbench.cli import main

    test = read_csv(split_dir / "test.csv")
    y_pred = test["target_raw"].to_numpy() * 1.05
    plain, planted = tmp_path / "plain.csv", tmp_path / "planted.csv"
    pd.DataFrame({"id": test["id"], "y_pred": y_pred}).to_csv(plain, index=False)
    pd.DataFrame({"id": test["id"], "y_true": y_pred, "y_pred": y_pred}).to_csv(planted, index=False)
    outputs = {}
    for path in (plain, planted):
        outputs[path] = tmp_path / f"{path.stem}.json"
        assert main(["score", TASK, str(path), "--config", CONFIG, "--references", CONSTANTS,
                     "--out", str(outputs[path]), "--cache-dir", str(cache_dir)]) == 0
        err = capsys.readouterr().err
        assert ("column 'y_true' ignored: the truth comes from the split" in err) == (path == planted)
    plain_scores, planted_scores = (json.loads(outputs[p].read_text())["scores"] for p in (plain, planted))
    assert plain_scores == planted_scores
    assert plain_scores[0]["mae_mean"] == pytest.approx(np.mean(0.05 * test["target_raw"]), rel=1e-12)


# ----------------------------------------------------------------------------------------------------------
# refusals: one line naming the ids
# ----------------------------------------------------------------------------------------------------------

def bad_files(test: pd.DataFrame, tmp_path):
    ids, y = list(test["id"]), list(test["target_raw"])
    cases = {
        "missing": (pd.DataFrame({"id": ids[3:], "y_pred": y[3:]}),
                    [f"3 of the {len(ids)} test ids missing", *ids[:3]]),
        "unknown": (pd.DataFrame({"id": ids + ["mp-0000", "matbench_phonons-99999"], "y_pred": y + [1.0, 2.0]}),
                    ["2 id(s) not in the split of task phonons_top", "mp-0000", "matbench_phonons-99999"]),
        "duplicated": (pd.DataFrame({"id": ids + ids[:2], "y_pred": y + y[:2]}),
                       ["2 id(s) given more than once", ids[0], ids[1]]),
        "non_finite": (pd.DataFrame({"id": ids, "y_pred": [math.nan, math.inf] + y[2:]}),
                       ["2 y_pred value(s) not a finite number", ids[0], ids[1]]),
    }
    for name, (frame, _) in cases.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    return cases


@pytest.mark.parametrize("case", ["missing", "unknown", "duplicated", "non_finite"])
def test_bad_ids_and_values_are_refused_in_one_line_naming_them(split_dir, tmp_path, capsys, case):
    from extrapbench.cli import main

    expected = bad_files(read_csv(split_dir / "test.csv"), tmp_path)[case][1]
    assert main(["score", TASK, str(tmp_path / f"{case}.csv"), "--config", CONFIG, "--references", "edge_train"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("extrapbench score: error:")]
    assert len(lines) == 1, captured.err
    for words in expected:
        assert words in lines[0]
    assert "Traceback" not in captured.err


def test_the_api_refuses_the_same_way(bench_factory):
    from extrapbench.api import PredictionsError

    task = bench_factory().tasks[TASK]
    ids = list(task.test_inputs()["id"])
    with pytest.raises(PredictionsError, match=f"1 of the {len(ids)} test ids missing: {ids[0]}"):
        task.record(0, pd.Series(1.0, index=ids[1:]))
    with pytest.raises(PredictionsError, match="not a finite number"):
        task.record(0, pd.DataFrame({"id": ids, "y_pred": ["x"] + [1.0] * (len(ids) - 1)}))
    val = list(task.val()["id"])
    with pytest.raises(PredictionsError, match=f"of the {len(val)} val ids missing .the val part is optional"):
        task.record(0, {**{i: 1.0 for i in ids}, val[0]: 1.0})
    with pytest.warns(UserWarning, match="y_true"):
        task.record(0, pd.DataFrame({"id": ids, "y_pred": 1.0, "y_true": 0.0}))
    with pytest.raises(ValueError, match="already recorded"):
        task.record(0, {i: 1.0 for i in ids})


# ----------------------------------------------------------------------------------------------------------
# records: to_file -> from_file -> compare
# ----------------------------------------------------------------------------------------------------------

def two_records(bench_factory, tmp_path):
    """Record A (a noisy model) and record B (a model that predicts the train edge plus a bit), two seeds each."""
    paths = []
    for name, shift in (("noisy", None), ("edge_plus", 0.05)):
        bench = bench_factory("transformed", references=FAST_REFERENCES.split(","), name=name)
        task = bench.tasks[TASK]
        test, edge = task.split.part_table("test", "transformed"), task.train()["target"].max()
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            values = (test["target"] + rng.normal(0, 0.3, len(test)) if shift is None
                      else np.full(len(test), edge + shift * (seed + 1)))
            task.record(seed, pd.DataFrame({"id": test["id"], "y_pred": values}))
        paths.append((bench, bench.to_file(tmp_path / f"{name}.json.gz")))
    return paths


def test_record_round_trip_and_compare(bench_factory, tmp_path, capsys):
    from extrapbench.api import Benchmark
    from extrapbench.cli import main

    (bench_a, path_a), (_, path_b) = two_records(bench_factory, tmp_path)
    back = Benchmark.from_file(path_a)
    pd.testing.assert_frame_equal(back.scores(), bench_a.scores())
    assert back.units == "transformed" and back.tasks[TASK].split_digest == bench_a.tasks[TASK].split.digest
    document = json.loads(gzip.decompress(path_a.read_bytes()))
    assert {"format", "config", "provenance", "references", "tasks"} <= set(document)
    assert document["provenance"]["code_sha256"] and "versions" in document["provenance"]
    assert document["config"]["split_ties"] == "held_out"  # resolved: the schema's defaults filled in
    seed0 = document["tasks"][TASK]["entries"]["noisy"]["seeds"]["0"]
    assert len(seed0["predictions"]) == 190 and seed0["metrics"]["units"] == "transformed"

    out = tmp_path / "tables"
    assert main(["compare", str(path_a), str(path_b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for words in ("test MAE (transformed units)", "skill against the train-edge constant", "paired t-tests",
                  "| noisy", "| edge_plus", "ref: Edge (train)", "ref: Ridge (Magpie)"):
        assert words in printed
    skill = pd.read_csv(out / "skill.csv").set_index("method")
    assert skill.at["edge_train", f"{TASK}_skill_mean"] == 0.0
    paired = pd.read_csv(out / "paired.csv").set_index("method")
    # the comparator of the paired tests is the first record's model: Δ = its MAE subtracted, seed by seed
    assert paired.at["edge_plus", "erm_mean_diff"] == pytest.approx(
        paired.at["edge_plus", "mae_mean"] - paired.at["noisy", "mae_mean"], rel=1e-12)
    assert (out / "mae.md").exists()


def test_a_record_with_another_split_digest_is_refused(bench_factory, tmp_path, capsys):
    from extrapbench.api import Benchmark, RecordError
    from extrapbench.cli import main

    (_, path_a), (_, path_b) = two_records(bench_factory, tmp_path)
    document = json.loads(gzip.decompress(path_b.read_bytes()))
    good = document["tasks"][TASK]["split_digest"]
    document["tasks"][TASK]["split_digest"] = "0" * 64
    tampered = tmp_path / "tampered.json.gz"
    tampered.write_bytes(gzip.compress(json.dumps(document).encode()))
    assert main(["compare", str(path_a), str(tampered)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"extrapbench compare: error: task {TASK}: split digest {good} in {path_a} differs from "
                   f"{'0' * 64} in {tampered}: records compare only on the same split")
    with pytest.raises(RecordError, match=f"task {TASK}: the record was scored on split 0{{64}}, the data here give "
                                          f"split {good}"):
        Benchmark.from_file(tampered).verify()


def test_from_file_names_the_file_and_key_of_what_is_wrong(bench_factory, tmp_path):
    from extrapbench.api import Benchmark, RecordError

    (_, path), _ = two_records(bench_factory, tmp_path)
    document = json.loads(gzip.decompress(path.read_bytes()))
    document["tasks"][TASK]["entries"]["noisy"]["seeds"]["1"]["predictions"]["x"] = "NaN"
    del document["tasks"][TASK]["split_digest"]
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(RecordError, match=f"{broken}: .*at 'tasks.{TASK}.split_digest': missing"):
        Benchmark.from_file(broken)
    document["tasks"][TASK]["split_digest"] = "0" * 64
    broken.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(RecordError, match=f"at 'tasks.{TASK}.entries.noisy.seeds.1.predictions': 1 value"):
        Benchmark.from_file(broken)
    (tmp_path / "plain.json.gz").write_text("{}")
    with pytest.raises(RecordError, match="not a gzipped JSON record"):
        Benchmark.from_file(tmp_path / "plain.json.gz")
    document["format"] = "extrapbench-record/0"
    broken.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(RecordError, match="at 'format': expected 'extrapbench-record/1'"):
        Benchmark.from_file(broken)


# ----------------------------------------------------------------------------------------------------------
# the example
# ----------------------------------------------------------------------------------------------------------

#: the example as shipped scores every reference of config/demo.yaml, the random forest's 500 trees per seed
#: included (about a minute on 2 cores): in the suite it runs with the fast references unless this is set
FULL_EXAMPLE = os.environ.get("EXTRAPBENCH_TEST_FULL_EXAMPLE") == "1"


def test_the_sklearn_example_runs(tmp_path, cache_dir):
    from extrapbench.api import Benchmark

    out = tmp_path / "example.json.gz"
    extra = [] if FULL_EXAMPLE else ["--references", FAST_REFERENCES, "--trees", "30"]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "examples" / "sklearn_on_splits.py"), "--config", CONFIG,
                             "--out", str(out), *extra], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "EXTRAPBENCH_CACHE": str(cache_dir)})
    assert result.returncode == 0, result.stderr
    print(f"example: {time.perf_counter() - started:.1f} s")
    assert "sklearn_rf" in result.stdout and "wrote" in result.stdout
    scores = Benchmark.from_file(out).scores().set_index("entry")
    assert scores.at["sklearn_rf", "n_seeds"] == 2
    assert scores.at["sklearn_rf", "vs_edge_train"] in ("beats", "≈", "trails")
