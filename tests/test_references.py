"""Reference predictors (extrapbench.references), their runs, and the tables that read them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from extrapbench.references.base import ReferenceData
from extrapbench.registry import REFERENCES

# a constructed range split (bottom task): train holds the upper labels, val the next ones down, test the lowest
Y = {"train": np.array([3.0, 4.0, 5.0, 6.0]), "val": np.array([2.0, 2.5]), "test": np.array([0.5, 1.0, 1.5])}


def predict(name, side="bottom", x=None, seed=0, **params):
    return REFERENCES.get(name)(**params).predict(ReferenceData(y=Y, side=side, x=x), seed)


@pytest.mark.parametrize("name, side, expected", [
    ("edge_train", "bottom", 3.0), ("edge_train", "top", 6.0),
    ("edge_known", "bottom", 2.0), ("edge_known", "top", 6.0),
    ("train_mean", "bottom", 4.5), ("train_mean", None, 4.5),
])
def test_constant_references_predict_the_hand_computed_constant_everywhere(name, side, expected):
    predicted = predict(name, side)
    for part, labels in Y.items():
        assert predicted[part].shape == labels.shape
        assert np.all(predicted[part] == expected), (name, side, part)


def test_edges_refuse_a_split_without_a_held_out_side():
    with pytest.raises(ValueError, match="held-out side"):
        predict("edge_train", side=None)


def linear_features():
    # one informative feature: the label itself, plus a constant column
    return {part: np.stack([y, np.ones_like(y)], axis=1) for part, y in Y.items()}


def test_random_forest_never_leaves_the_train_range_and_ridge_extrapolates_linearly():
    x = linear_features()
    forest = predict("random_forest", x=x, n_estimators=20)
    assert forest["test"].min() >= Y["train"].min() - 1e-12  # a forest averages train labels
    ridge = REFERENCES.get("ridge")()
    predicted = ridge.predict(ReferenceData(y=Y, side="bottom", x=x), 0)
    assert ridge.selected_alpha == 0.01  # the least shrinkage fits the exactly linear toy best on val
    assert predicted["test"].max() < Y["train"].min()  # below the train range: it extrapolates
    assert np.allclose(predicted["test"], Y["test"], atol=0.05)


def test_random_forest_depends_on_the_seed_and_constants_do_not():
    rng = np.random.default_rng(0)
    x = {part: rng.normal(size=(len(y), 5)) for part, y in Y.items()}
    assert REFERENCES.get("random_forest").seeded and not REFERENCES.get("edge_train").seeded
    a, b = predict("random_forest", x=x, seed=0, n_estimators=5), predict("random_forest", x=x, seed=1, n_estimators=5)
    assert not np.allclose(a["test"], b["test"])


def write_split(tmp_path, side="bottom"):
    ids = {part: [f"m{part}{i}" for i in range(len(y))] for part, y in Y.items()}
    summary = {"task": "toy_bottom", "side": side, "split": "range",
               **{part: {"n": len(y), "min": float(y.min()), "max": float(y.max()), "ids": ids[part]}
                  for part, y in Y.items()}}
    (tmp_path / "split.json").write_text(json.dumps(summary))
    rows = [(i, part, float(y)) for part in Y for i, y in zip(ids[part], Y[part])]
    pd.DataFrame(rows, columns=["id", "split", "target"]).to_csv(tmp_path / "split.csv", index=False)
    features = pd.DataFrame({"f0": [y for part in Y for y in Y[part]], "f1": 1.0},
                            index=[i for part in Y for i in ids[part]])
    features.to_csv(tmp_path / "magpie.csv")
    return summary


def test_reference_runs_are_evaluated_like_training_runs(tmp_path):
    from extrapbench.evaluation.runs import evaluate_runs
    from extrapbench.training.reference_run import predict_references

    write_split(tmp_path)
    runs = [{"backbone": None, "reference": name, "seed": seed, "predictions": tmp_path / name / f"s{seed}.csv",
             "provenance": tmp_path / name / f"s{seed}.json"} for name in ("edge_train", "ridge") for seed in (0, 1)]
    predict_references(split_json=tmp_path / "split.json", split_csv=tmp_path / "split.csv",
                       features_csv=tmp_path / "magpie.csv", references={"edge_train": {}, "ridge": {}},
                       runs=runs, progress=lambda _: None)
    metrics = evaluate_runs([r["predictions"] for r in runs], tmp_path / "split.json", [r["provenance"] for r in runs],
                            [tmp_path / f"{r['reference']}{r['seed']}.json" for r in runs], backbone="painn")
    edge = metrics[0]
    assert (edge["method"], edge["backbone"], edge["seed"]) == ("edge_train", "painn", 0)
    assert edge["mae"] == pytest.approx(np.mean(np.abs(Y["test"] - 3.0)))
    assert edge["spearman"] is None  # a constant ranks nothing
    assert edge["detect_recall"] == 0.0  # the edge itself is not beyond the train range
    provenance = json.loads(runs[2]["provenance"].read_text())
    assert provenance["role"] == "reference" and provenance["method_details"]["selected_alpha"] in (0.01, 0.1)


def runs_frame(rows):
    return pd.DataFrame(rows, columns=["task", "backbone", "method", "seed", "mae"])


def test_skill_of_the_edge_constant_is_exactly_zero_and_a_method_skill_is_hand_computed():
    from extrapbench.report.references import skill_table

    runs = runs_frame([("t", "b", "edge_train", s, 0.8) for s in (0, 1)]
                      + [("t", "b", "erm", 0, 0.4), ("t", "b", "erm", 1, 0.6), ("t", "b", "mex", 0, 1.0),
                         ("t", "b", "mex", 1, 1.2)])
    frame = skill_table(runs, methods=["erm", "mex"], references=["edge_train"]).to_frame().set_index("method")
    assert frame.loc["edge_train", "t_skill_mean"] == 0.0
    assert frame.loc["erm", "t_skill_mean"] == pytest.approx(1 - 0.5 / 0.8)
    assert frame.loc["erm", "t_skill_std"] == pytest.approx(np.std([0.5, 0.25], ddof=1))
    assert frame.loc["mex", "t_skill_mean"] == pytest.approx(1 - 1.1 / 0.8)
    assert (frame.loc["erm", "tasks_beaten"], frame.loc["mex", "tasks_beaten"]) == (1, 0)


def summary_frame(rows):
    frame = pd.DataFrame(rows, columns=["task", "backbone", "method", "mae_mean", "mae_std"])
    frame["n_seeds"] = 2
    return frame


def test_references_are_never_ranked_or_marked_and_methods_that_do_not_beat_the_edge_get_a_dagger():
    from extrapbench.report.tables import paper_table

    summary = summary_frame([
        ("t1", "b", "erm", 0.50, 0.01), ("t1", "b", "mex", 0.90, 0.01), ("t1", "b", "lds", 0.70, 0.01),
        ("t1", "b", "edge_train", 0.80, np.nan), ("t1", "b", "edge_known", 0.10, np.nan),
        ("t2", "b", "erm", 0.30, 0.01), ("t2", "b", "mex", 0.20, 0.01), ("t2", "b", "lds", 0.40, 0.01),
        ("t2", "b", "edge_train", 0.25, np.nan), ("t2", "b", "edge_known", 0.05, np.nan)])
    table = paper_table(summary, "mae", methods=["erm", "lds", "mex"], task_order=["t1", "t2"],
                        references=["edge_train", "edge_known"])
    assert table.rows == [("b", "erm"), ("b", "lds"), ("b", "mex"), ("b", "edge_train"), ("b", "edge_known")]
    # edge_known has the lowest MAE in both columns, yet the methods' ranks are among themselves
    assert table.rank.loc[("b", "erm"), "t1"] == 1 and table.rank.loc[("b", "mex"), "t2"] == 1
    assert table.rank.loc[("b", "edge_known")].isna().all() and pd.isna(table.avg_rank[("b", "edge_known")])
    styles = table.styles()
    assert styles.loc[("b", "edge_known")].eq("").all() and styles.loc[("b", "erm"), "t1"] == "best"
    markdown = table.to_markdown()
    assert "| ref: Edge (train ∪ val) |" in markdown
    assert "| 0.900(0.010) † |" in markdown and "| *0.700(0.010)* |" in markdown  # MEX 0.90 ≥ 0.80; LDS beats it
    assert "| 0.400(0.010) † |" in markdown and "| *0.300(0.010) †* |" in markdown  # t2: ERM and LDS ≥ 0.25
    assert r"$^\dagger$" in table.to_latex()
    frame = table.to_frame().set_index("method")
    assert not frame.loc["mex", "t1_beats_edge_train"] and frame.loc["lds", "t1_beats_edge_train"]
    assert frame.loc["edge_known", "role"] == "reference"


def test_penalty_table_divides_each_seeds_range_mae_by_its_random_twins():
    from extrapbench.report.references import penalty_table

    runs = runs_frame([("a", "b", "erm", 0, 0.6), ("a", "b", "erm", 1, 0.9), ("a_random", "b", "erm", 0, 0.2),
                       ("a_random", "b", "erm", 1, 0.3), ("c", "b", "erm", 0, 0.5), ("c_random", "b", "erm", 0, 0.5),
                       ("c", "b", "erm", 1, 0.7)])  # seed 1 of c has no twin: left out
    table = penalty_table(runs, {"a_random": "a", "c_random": "c"}, methods=["erm"], task_order=["a", "c"])
    row = table.to_frame().iloc[0]
    assert row["a_penalty_mean"] == pytest.approx(3.0) and row["a_penalty_std"] == pytest.approx(0.0)
    assert (row["a_range_mae"], row["a_random_mae"]) == (pytest.approx(0.75), pytest.approx(0.25))
    assert row["c_penalty_mean"] == pytest.approx(1.0) and row["c_n_seeds"] == 1
    assert "3.00(0.00)× (0.750 / 0.250)" in table.to_markdown()


def test_random_split_takes_part_sizes_as_counts():
    from extrapbench.splits.random import random_split

    table = pd.DataFrame(index=[f"m{i}" for i in range(100)])
    parts = random_split(table, n_test=17, n_val=13, seed=3)
    assert (len(parts["test"]), len(parts["val"]), len(parts["train"])) == (17, 13, 70)
    with pytest.raises(ValueError, match="n_test=90, n_val=20"):
        random_split(table, n_test=90, n_val=20)


@pytest.mark.parametrize("change, message", [
    ({"references": {"edge_trian": {}}}, "at 'references': unknown reference predictor 'edge_trian'"),
    ({"references": {"ridge": {"alphas": [-1.0]}}}, "at 'references.ridge.alphas'"),
    ({"references": {"random_forest": {"trees": 5}}}, "unknown hyper-parameter 'trees'"),
    ({"references": {"erm": {"reference": "edge_train"}}}, "'erm' is also a method entry"),
    ({"in_distribution": {"methods": ["lds"]}}, "at 'in_distribution.methods': 'lds' is not one of"),
])
def test_the_config_check_names_bad_reference_entries(change, message):
    from extrapbench.config.checks import registry_errors

    config = {"tasks": ["phonons_top"], "backbones": {"magpie_mlp": {}}, "methods": {"erm": {}}, **change}
    assert any(message in m for m in registry_errors(config)), registry_errors(config)
