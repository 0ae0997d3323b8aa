"""Paired t-tests, Wilcoxon tests, average ranks, Friedman / Nemenyi and the critical-difference diagram."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from extrapbench.report.ranks import (Q_ALPHA_005, cd_groups, nemenyi_critical_difference, nemenyi_q,
                                      rank_analyses, rank_analysis)
from extrapbench.report.significance import holm, paired_tests, wilcoxon_tests
from extrapbench.report.summary import collect, summarize

from conftest import FakeSnakemake

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
TASKS = ["formation_energy_bottom", "shear_modulus_bottom", "shear_modulus_top", "refractive_index_bottom",
         "refractive_index_top", "phonons_bottom", "phonons_top"]


def _runs(values):
    """values: {(task, backbone, method): [mae per seed]} -> a runs frame (seeds 0, 1, ...)."""
    records = [{"task": t, "backbone": b, "method": m, "seed": seed, "mae": mae}
               for (t, b, m), maes in values.items() for seed, mae in enumerate(maes)]
    return collect(records)


# ------------------------------------------------------------------------------------------------ (a) t-tests

def test_paired_t_test_equals_scipy_and_reports_the_sign():
    erm, lds, mex = [0.50, 0.55, 0.53], [0.52, 0.58, 0.54], [0.40, 0.47, 0.41]
    runs = _runs({(TASKS[0], "painn", "erm"): erm, (TASKS[0], "painn", "lds"): lds,
                  (TASKS[0], "painn", "mex"): mex,
                  (TASKS[1], "painn", "erm"): [0.3, 0.31, 0.32], (TASKS[1], "painn", "mex"): [0.2]})
    paired = paired_tests(runs).set_index(["task", "method"])
    row = paired.loc[(TASKS[0], "mex")]
    expected = stats.ttest_rel(mex, erm)
    assert row["t_statistic"] == pytest.approx(expected.statistic)
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["mean_diff"] == pytest.approx(np.mean(np.subtract(mex, erm)))
    assert row["direction"] == "better" and row["n_pairs"] == 3
    lds_row = paired.loc[(TASKS[0], "lds")]
    assert lds_row["direction"] == "worse" and lds_row["p_value"] == pytest.approx(stats.ttest_rel(lds, erm).pvalue)
    # Holm over the two methods of the task: min(1, 2 p_min), then max(that, p_max)
    p_small, p_large = sorted([row["p_value"], lds_row["p_value"]])
    assert sorted([row["p_holm"], lds_row["p_holm"]]) == pytest.approx([min(1, 2 * p_small),
                                                                        max(min(1, 2 * p_small), p_large)])
    single = paired.loc[(TASKS[1], "mex")]  # one paired seed: n/a
    assert single["n_pairs"] == 1 and math.isnan(single["p_value"]) and "no test" in single["note"]
    assert single["mean_diff"] == pytest.approx(0.2 - 0.3)


def test_paired_t_test_with_identical_differences_is_na():
    runs = _runs({(TASKS[0], "painn", "erm"): [0.5, 0.6], (TASKS[0], "painn", "mex"): [0.4, 0.5]})
    row = paired_tests(runs).iloc[0]
    assert math.isnan(row["p_value"]) and "identical" in row["note"] and row["direction"] == "better"


# ------------------------------------------------------------------------------------------------ (b) Wilcoxon

def test_wilcoxon_equals_scipy_on_task_seed_pairs():
    rng = np.random.default_rng(3)
    values = {}
    for task in TASKS[:4]:
        erm = rng.uniform(0.3, 0.6, 3)
        values[(task, "painn", "erm")] = list(erm)
        values[(task, "painn", "mex")] = list(erm - rng.uniform(-0.02, 0.08, 3))
    values[(TASKS[4], "painn", "mex")] = [0.1, 0.1, 0.1]  # no ERM on this task: not paired
    runs = _runs(values)
    row = wilcoxon_tests(runs).iloc[0]
    x = np.concatenate([values[(t, "painn", "mex")] for t in TASKS[:4]])
    y = np.concatenate([values[(t, "painn", "erm")] for t in TASKS[:4]])
    expected = stats.wilcoxon(x, y)
    assert row["n_pairs"] == 12 and row["n_tasks"] == 4
    assert row["statistic"] == pytest.approx(expected.statistic)
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["n_better"] == int(np.sum(x < y)) and row["median_diff"] == pytest.approx(np.median(x - y))


def test_wilcoxon_without_a_nonzero_difference_is_na():
    runs = _runs({(TASKS[0], "painn", "erm"): [0.5, 0.6], (TASKS[0], "painn", "mex"): [0.5, 0.6]})
    row = wilcoxon_tests(runs).iloc[0]
    assert math.isnan(row["p_value"]) and row["n_ties"] == 2 and row["direction"] == "equal"


# ------------------------------------------------------------------------------------------------ (c) ranks

def test_nemenyi_critical_difference_k3_n7():
    # hand: q_0.05(3) = 2.343; CD = 2.343 * sqrt(3 * 4 / (6 * 7)) = 2.343 * 0.534522 = 1.2524
    assert nemenyi_q(3) == pytest.approx(2.343, abs=1e-3)
    assert nemenyi_critical_difference(3, 7) == pytest.approx(1.2524, abs=1e-3)


def test_q_table_matches_the_studentized_range_distribution():
    for k, q in Q_ALPHA_005.items():
        assert q == pytest.approx(stats.studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2), abs=1e-5)
    assert nemenyi_q(13) == pytest.approx(
        stats.studentized_range.ppf(0.95, 13, np.inf) / math.sqrt(2))


def test_average_ranks_friedman_and_groups_hand_checked():
    # mean MAE per task (one seed each); lower is better
    means = {"erm": [0.5, 0.4, 0.9, 0.3], "lds": [0.4, 0.5, 0.7, 0.3], "mex": [0.1, 0.2, 0.8, 0.3]}
    runs = _runs({(task, "painn", m): [v[i]] for m, v in means.items() for i, task in enumerate(TASKS[:4])})
    summary = summarize(runs)
    analysis = rank_analysis(summary, "painn")
    # per-task ranks: t0 mex 1, lds 2, erm 3; t1 mex 1, erm 2, lds 3; t2 lds 1, mex 2, erm 3; t3 all tie 2
    assert analysis.ranks["mex"].tolist() == [1, 1, 2, 2]
    assert analysis.avg_rank.to_dict() == pytest.approx({"mex": 1.5, "lds": 2.0, "erm": 2.5})
    assert list(analysis.avg_rank.index) == ["mex", "lds", "erm"]
    expected = stats.friedmanchisquare(*(means[m] for m in ("erm", "lds", "mex")))
    assert analysis.friedman_statistic == pytest.approx(expected.statistic)
    assert analysis.friedman_p == pytest.approx(expected.pvalue)
    assert analysis.cd == pytest.approx(Q_ALPHA_005[3] * math.sqrt(3 * 4 / (6 * 4)))
    assert analysis.groups == [["mex", "lds", "erm"]]  # all within CD ≈ 1.657 of each other


def test_cd_groups_are_maximal_runs_within_cd():
    ranks = pd.Series({"a": 1.0, "b": 1.5, "c": 2.4, "d": 3.6, "e": 4.0})
    assert cd_groups(ranks, 1.0) == [["a", "b"], ["b", "c"], ["d", "e"]]
    assert cd_groups(ranks, 0.1) == []


def test_rank_analysis_leaves_out_incomplete_tasks():
    runs = _runs({(TASKS[0], "painn", "erm"): [0.5], (TASKS[0], "painn", "mex"): [0.4],
                  (TASKS[1], "painn", "erm"): [0.5], (TASKS[1], "painn", "mex"): [0.6],
                  (TASKS[2], "painn", "erm"): [0.5]})
    analysis = rank_analysis(summarize(runs), "painn")
    assert analysis.tasks == TASKS[:2] and analysis.excluded_tasks == [TASKS[2]]
    assert math.isnan(analysis.friedman_p)  # k = 2: no Friedman test
    assert any("left out" in note for note in analysis.notes)


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, np.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, max(0.03, 0.06) = 0.06, max(0.06, 0.04) = 0.06
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06) and math.isnan(adjusted[2])


# ------------------------------------------------------------------------------------------------ scripts, figure

def _write_metrics(tmp_path):
    rng = np.random.default_rng(7)
    paths = []
    for backbone in ("painn", "equiformer_v2"):
        for task in TASKS:
            for method, shift in (("erm", 0.0), ("lds", 0.01), ("ranksim", -0.01), ("foma", 0.02),
                                  ("mex", -0.05)):
                for seed in range(3):
                    path = tmp_path / f"runs/{task}/{backbone}/{method}/seed{seed}/metrics.json"
                    path.parent.mkdir(parents=True)
                    path.write_text(json.dumps({"task": task, "backbone": backbone, "method": method,
                                                "seed": seed, "mae": 0.4 + shift + rng.normal(0, 0.02)}))
                    paths.append(str(path))
    return paths


def test_statistics_report_script(tmp_path):
    metric_paths = _write_metrics(tmp_path)
    outputs = {name: str(tmp_path / f"out/statistics.{name}") for name in ("md", "tex")}
    outputs.update({name: str(tmp_path / f"out/{name}.csv") for name in ("paired_csv", "wilcoxon_csv", "ranks_csv")})
    smk = FakeSnakemake(input={"metrics": metric_paths}, output=outputs, log=tmp_path / "stats.log",
                        params={"method_order": ["erm", "lds", "ranksim", "foma", "mex"]})
    runpy.run_path(str(SCRIPTS / "statistics_report.py"), init_globals={"snakemake": smk})

    paired = pd.read_csv(outputs["paired_csv"])
    assert len(paired) == 2 * 7 * 4 and set(paired["n_pairs"]) == {3}
    wilcoxon = pd.read_csv(outputs["wilcoxon_csv"])
    assert len(wilcoxon) == 2 * 4 and set(wilcoxon["n_pairs"]) == {21}
    ranks = pd.read_csv(outputs["ranks_csv"])
    assert len(ranks) == 2 * 5 and set(ranks["n_tasks"]) == {7} and set(ranks["k"]) == {5}
    assert ranks["cd"].iloc[0] == pytest.approx(nemenyi_critical_difference(5, 7))
    markdown = Path(outputs["md"]).read_text()
    for heading in ("## (a) Paired t-tests", "## (b) Wilcoxon", "## (c) Average ranks"):
        assert heading in markdown
    assert "2 for the paper's 3 seeds" in markdown and "not independent" in markdown
    latex = Path(outputs["tex"]).read_text()
    assert latex.count(r"\begin{tabular}") == 3 and r"$\Delta$" in latex


def test_critical_difference_figure(tmp_path):
    runs = collect(_write_metrics(tmp_path))
    summary_path = tmp_path / "summary.csv"
    summarize(runs).to_csv(summary_path, index=False)
    png, pdf = tmp_path / "cd.png", tmp_path / "cd.pdf"
    smk = FakeSnakemake(input={"summary": str(summary_path)}, output={"png": str(png), "pdf": str(pdf)},
                        log=tmp_path / "cd.log")
    runpy.run_path(str(SCRIPTS / "plot_critical_difference.py"), init_globals={"snakemake": smk})
    assert png.stat().st_size > 5_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_friedman_and_cd_take_one_backbones_paper_methods_only(tmp_path):
    """Ablation entries never enter the rank analysis; each backbone's methods are ranked among themselves."""
    rng = np.random.default_rng(11)
    methods = ["erm", "lds", "ranksim", "mex", "fds", "mex_cos", "mex_dataset_range"]
    entries = {m: {} for m in methods[:5]}
    entries.update({"mex_cos": {"method": "mex", "score": "cos"},
                    "mex_dataset_range": {"method": "mex", "candidate_range": "dataset"}})
    paths = []
    for backbone, base in (("painn", 0.5), ("equiformer_v2", 0.2)):
        for task in TASKS:
            for method in methods:
                for seed in range(2):
                    path = tmp_path / f"runs/{task}/{backbone}/{method}/seed{seed}/metrics.json"
                    path.parent.mkdir(parents=True)
                    mae = base + rng.normal(0, 0.05) - (0.4 if method == "mex_dataset_range" else 0)
                    path.write_text(json.dumps({"task": task, "backbone": backbone, "method": method,
                                                "seed": seed, "mae": mae}))
                    paths.append(str(path))
    outputs = {name: str(tmp_path / f"out/statistics.{name}") for name in ("md", "tex")}
    outputs.update({name: str(tmp_path / f"out/{name}.csv") for name in ("paired_csv", "wilcoxon_csv", "ranks_csv")})
    smk = FakeSnakemake(input={"metrics": paths}, output=outputs, log=tmp_path / "stats.log",
                        params={"method_order": methods, "method_entries": entries})
    runpy.run_path(str(SCRIPTS / "statistics_report.py"), init_globals={"snakemake": smk})
    ranks = pd.read_csv(outputs["ranks_csv"])
    paper = ["erm", "lds", "ranksim", "mex"]
    for backbone in ("painn", "equiformer_v2"):
        block = ranks[ranks["backbone"] == backbone]
        assert sorted(block["method"]) == sorted(paper)                 # k = 4: no FDS, no ablation entry
        assert set(block["k"]) == {4} and block["avg_rank"].sum() == pytest.approx(4 * 5 / 2)
        assert block["cd"].iloc[0] == pytest.approx(nemenyi_critical_difference(4, 7))
        means = {m: [np.mean([json.loads(Path(p).read_text())["mae"] for p in paths
                              if f"/{t}/{backbone}/{m}/" in p]) for t in TASKS] for m in paper}
        expected = stats.friedmanchisquare(*(means[m] for m in order_like(block["method"], paper)))
        assert block["friedman_p"].iloc[0] == pytest.approx(expected.pvalue)
    paired = pd.read_csv(outputs["paired_csv"])
    assert set(paired["method"]) == {"lds", "ranksim", "mex", "fds"}  # every method against ERM, no ablation

    # the diagram: one panel per backbone, its four paper methods only
    summary_path = tmp_path / "summary.csv"
    summarize(collect(paths)).to_csv(summary_path, index=False)
    png, pdf = tmp_path / "cd.png", tmp_path / "cd.pdf"
    smk = FakeSnakemake(input={"summary": str(summary_path)}, output={"png": str(png), "pdf": str(pdf)},
                        log=tmp_path / "cd.log", params={"method_entries": entries})
    namespace = runpy.run_path(str(SCRIPTS / "plot_critical_difference.py"), init_globals={"snakemake": smk})
    assert png.stat().st_size > 5_000
    analyses = rank_analyses(pd.read_csv(summary_path), methods=paper)
    assert [a.k for a in analyses] == [4, 4] and all(set(a.avg_rank.index) == set(paper) for a in analyses)
    assert namespace is not None
    assert "ranked ['erm', 'lds', 'ranksim', 'mex'] within each backbone" in (tmp_path / "cd.log").read_text()


def order_like(present, order):
    return [m for m in order if m in set(present)]
