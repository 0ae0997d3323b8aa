"""Summary statistics, the paper-style tables and the figures, from synthetic inputs."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extrapbench.naming import TASK_ORDER, order_methods, order_tasks
from extrapbench.report import figures, tables
from extrapbench.report.cell_marks import mark_best
from extrapbench.report.summary import collect, summarize

from conftest import FakeSnakemake

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _run(task, backbone, method, seed, **metrics):
    record = {"task": task, "backbone": backbone, "method": method, "seed": seed, "n_test": 10}
    record.update(metrics)
    return record


# ------------------------------------------------------------------------------------------------ summarize

def test_summarize_mean_and_sample_std_over_seeds():
    runs = collect([
        _run("phonons_top", "painn", "erm", 0, mae=1.0, spearman=0.2, detect_recall=None),
        _run("phonons_top", "painn", "erm", 1, mae=2.0, spearman=0.4, detect_recall=None),
        _run("phonons_top", "painn", "erm", 2, mae=3.0, spearman=0.9, detect_recall=None),
        _run("phonons_top", "painn", "mex", 0, mae=0.5, spearman=0.7, detect_recall=0.25),
    ])
    summary = summarize(runs)
    erm = summary[summary["method"] == "erm"].iloc[0]
    assert erm["n_seeds"] == 3 and erm["seeds"] == "0,1,2" and erm["n_test"] == 10
    assert erm["mae_mean"] == pytest.approx(2.0)
    assert erm["mae_std"] == pytest.approx(1.0)  # sqrt(((1-2)^2 + 0 + (3-2)^2) / (3 - 1))
    assert erm["spearman_mean"] == pytest.approx(0.5)
    assert erm["spearman_std"] == pytest.approx(math.sqrt((0.09 + 0.01 + 0.16) / 2))
    assert math.isnan(erm["detect_recall_mean"])  # JSON null -> NaN
    mex = summary[summary["method"] == "mex"].iloc[0]
    assert mex["n_seeds"] == 1 and mex["mae_mean"] == 0.5
    assert math.isnan(mex["mae_std"])  # a single seed has no std
    assert list(summary["method"]) == ["erm", "mex"]


def test_collect_reads_files_and_rejects_duplicates(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(_run("phonons_top", "painn", "erm", 0, mae=1.0)))
    assert collect([path])["mae"].tolist() == [1.0]
    with pytest.raises(ValueError, match="duplicate"):
        collect([path, path])


def test_order_methods_puts_erm_first_and_mex_last():
    assert order_methods(["mex", "lds", "erm", "ranksim", "mex_cos"], ["mex", "ranksim", "erm"]) == \
        ["erm", "ranksim", "lds", "mex", "mex_cos"]
    assert order_tasks(["phonons_top", "extra", "formation_energy_bottom"]) == \
        ["formation_energy_bottom", "phonons_top", "extra"]


# ------------------------------------------------------------------------------------------------ paper table

def _summary_rows(values, metric="mae"):
    """values: {(backbone, method): {task: mean}} -> a summary frame with std 0.01 and 3 seeds."""
    rows = []
    for (backbone, method), by_task in values.items():
        for task, mean in by_task.items():
            rows.append({"task": task, "backbone": backbone, "method": method, "n_seeds": 3,
                         f"{metric}_mean": mean, f"{metric}_std": 0.01})
    return pd.DataFrame(rows)


T1, T2 = "formation_energy_bottom", "phonons_top"


def test_paper_table_lower_is_better_styles_and_ranks():
    summary = _summary_rows({
        ("painn", "erm"): {T1: 0.3, T2: 0.5},
        ("painn", "lds"): {T1: 0.2, T2: 0.4},
        ("painn", "mex"): {T1: 0.1, T2: 0.4},
    })
    table = tables.paper_table(summary, "mae", higher_is_better=False, method_order=["mex", "lds", "erm"])
    assert table.rows == [("painn", "erm"), ("painn", "lds"), ("painn", "mex")]
    assert table.tasks == [T1, T2]
    # T1 ranks: mex 1, lds 2, erm 3; T2: lds and mex tie at (1 + 2) / 2 = 1.5, erm 3
    assert table.rank.loc[("painn", "mex")].tolist() == [1.0, 1.5]
    assert table.avg_rank.to_dict() == {("painn", "erm"): 3.0, ("painn", "lds"): 1.75, ("painn", "mex"): 1.25}

    styles = table.styles()
    assert styles.loc[("painn", "mex"), T1] == "best" and styles.loc[("painn", "lds"), T1] == "second"
    # a tie for the best value: both bold; the next value is the last one, so no italics ("second" = "last")
    assert styles.loc[("painn", "lds"), T2] == "best" and styles.loc[("painn", "mex"), T2] == "best"
    assert styles.loc[("painn", "erm"), T2] == ""

    markdown = table.to_markdown()
    assert "| PaiNN | MEX | **0.100(0.010)** | **0.400(0.010)** | **1.25** |" in markdown
    assert "| PaiNN | LDS | *0.200(0.010)* | **0.400(0.010)** | *1.75* |" in markdown
    assert "| PaiNN | ERM | 0.300(0.010) | 0.500(0.010) | 3.00 |" in markdown

    latex = table.to_latex()
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"formation\_energy\_bottom" in latex
    assert r"\textbf{0.100(0.010)}" in latex and r"\textit{0.200(0.010)}" in latex
    assert r"\textbf{1.25}" in latex


def test_paper_table_higher_is_better():
    summary = _summary_rows({
        ("painn", "erm"): {T1: 0.5},
        ("painn", "lds"): {T1: 0.9},
        ("painn", "mex"): {T1: 0.7},
    }, metric="spearman")
    table = tables.paper_table(summary, "spearman", higher_is_better=True)
    styles = table.styles()
    assert styles.loc[("painn", "lds"), T1] == "best"
    assert styles.loc[("painn", "mex"), T1] == "second"
    assert styles.loc[("painn", "erm"), T1] == ""
    assert table.avg_rank.to_dict() == {("painn", "erm"): 3.0, ("painn", "lds"): 1.0, ("painn", "mex"): 2.0}
    assert "**0.900(0.010)**" in table.to_markdown()
    # the default direction comes from HIGHER_IS_BETTER
    assert tables.paper_table(summary, "spearman").higher_is_better


def test_marks_need_a_gap_wider_than_the_seed_std():
    """Two rows, two seeds: a best that seed noise could swap is not bold; the runner-up is never italic."""
    summary = _summary_rows({("painn", "erm"): {T1: 0.30, T2: 0.50}, ("painn", "mex"): {T1: 0.295, T2: 0.40}})
    summary["n_seeds"] = 2
    styles = tables.paper_table(summary, "mae").styles()
    assert styles.loc[("painn", "mex"), T1] == ""       # 0.005 apart, std 0.01: not established
    assert styles.loc[("painn", "mex"), T2] == "best"   # 0.1 apart: bold
    assert styles.loc[("painn", "erm"), T2] == ""       # with two rows the second is the last: no italics
    assert mark_best(pd.Series({"a": 1.0, "b": 2.0, "c": 3.0}), False) == ({"a"}, {"b"})
    assert mark_best(pd.Series({"a": 1.0}), False) == (set(), set())
    assert mark_best(pd.Series({"a": 1.0, "b": 1.0}), False) == (set(), set())  # all equal: no best


def _two_backbones_with_ablations():
    """Two backbones x three tasks: paper methods, an extra method and three ablation entries."""
    rng = np.random.default_rng(5)
    records, tasks = [], [T1, "refractive_index_top", T2]
    methods = ["erm", "lds", "ranksim", "mex", "fds", "mex_cos", "mex_dataset_range", "ranksim_gamma100"]
    for backbone, base in (("painn", 0.5), ("equiformer_v2", 0.2)):  # EquiformerV2 far better everywhere
        for task in tasks:
            for i, method in enumerate(methods):
                for seed in range(3):
                    mae = base + 0.01 * rng.integers(0, 30) - (0.3 if method == "mex_dataset_range" else 0.0)
                    records.append(_run(task, backbone, method, seed, mae=mae, gm=mae / 3, spearman=0.5 + mae / 10,
                                        detect_recall=0.5))
    entries = {"erm": {}, "lds": {}, "ranksim": {}, "mex": {}, "fds": {},
               "mex_cos": {"method": "mex", "score": "cos"},
               "mex_dataset_range": {"method": "mex", "candidate_range": "dataset"},
               "ranksim_gamma100": {"method": "ranksim", "gamma": 100.0}}
    return collect(records), entries, tasks


def test_ranks_and_marks_stay_within_a_backbone_and_ablations_are_not_ranked(tmp_path):
    from extrapbench.report.method_sets import method_sets

    runs, entries, tasks = _two_backbones_with_ablations()
    summary = summarize(runs)
    sets = method_sets(summary["method"].unique(), entries)
    assert sets.paper == ["erm", "lds", "ranksim", "mex"] and sets.others == ["fds"]
    assert sets.ablations == {"mex_cos": "mex", "mex_dataset_range": "mex", "ranksim_gamma100": "ranksim"}
    assert sets.leaky == ["mex_dataset_range"]
    for which, k in (("paper", 4), ("all", 5)):
        table = tables.paper_table(summary, "mae", methods=sets.select(which), extra_notes=sets.notes(which))
        assert {m for _, m in table.rows} == set(sets.select(which))   # no ablation row
        for backbone in ("painn", "equiformer_v2"):
            block = table.rank.loc[backbone]
            assert len(block) == k
            for task in tasks:                                           # ranks 1..k within the backbone
                assert block[task].sum() == pytest.approx(k * (k + 1) / 2)
            assert table.avg_rank.loc[backbone].sum() == pytest.approx(k * (k + 1) / 2)
        styles = table.styles()
        for backbone in ("painn", "equiformer_v2"):                      # each backbone keeps its own bold
            assert (styles.loc[backbone, table.AVG_RANK] == "best").any()
        markdown = table.to_markdown()
        assert "MEX (leaky" not in markdown and "mex_dataset_range" in markdown  # named in the note only
        assert "| PaiNN | mex_cos |" not in markdown and "ranksim_gamma100 |" not in markdown


def test_denseweight_fills_the_lds_slot_only_without_lds():
    from extrapbench.report.method_sets import method_sets

    sets = method_sets(["erm", "denseweight", "mex", "ane"], {"erm": {}, "denseweight": {}, "mex": {}, "ane": {}})
    assert sets.paper == ["erm", "denseweight", "mex"] and sets.others == ["ane"]
    assert any("DenseWeight" in note for note in sets.notes("paper"))
    assert sets.labels() == {"denseweight": "LDS (DenseWeight)"}
    sets = method_sets(["erm", "lds", "denseweight"], None)
    assert sets.paper == ["erm", "lds"] and sets.others == ["denseweight"] and not sets.labels()
    # a config key `ablations` marks entries that are not aliases; a mapping names their reference
    sets = method_sets(["erm", "lds", "fds"], {"erm": {}, "lds": {}, "fds": {}}, ablations={"fds": "lds"})
    assert sets.ablations == {"fds": "lds"} and sets.others == []
    assert method_sets(["erm", "fds"], None, ablations=["fds"]).ablations == {"fds": "erm"}


def test_ablation_tables_show_the_difference_and_the_paired_p(tmp_path):
    from scipy import stats

    from extrapbench.report.ablations import ablation_tables
    from extrapbench.report.method_sets import method_sets

    runs, entries, tasks = _two_backbones_with_ablations()
    sets = method_sets(runs["method"].unique(), entries)
    result = ablation_tables(runs, sets, ["mae"])
    frame = result.to_frame()
    assert set(frame["entry"]) == {"mex_cos", "mex_dataset_range", "ranksim_gamma100"}
    assert len(frame) == 3 * 2 * len(tasks)
    row = frame[(frame["entry"] == "mex_cos") & (frame["backbone"] == "painn") & (frame["task"] == T1)].iloc[0]
    x = runs[(runs["method"] == "mex_cos") & (runs["backbone"] == "painn") & (runs["task"] == T1)]["mae"].to_numpy()
    y = runs[(runs["method"] == "mex") & (runs["backbone"] == "painn") & (runs["task"] == T1)]["mae"].to_numpy()
    assert row["reference"] == "mex" and row["delta"] == pytest.approx(np.mean(x - y))
    if np.ptp(x - y) > 0:
        assert row["p_value"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    markdown = result.to_markdown()
    assert "**" not in markdown and "p (paired t)" in markdown and "(leaky range)" in markdown
    result.write(tmp_path / "a.md", tmp_path / "a.tex", tmp_path / "a.csv")
    assert r"\begin{tabular}" in (tmp_path / "a.tex").read_text()


def test_paper_table_missing_cells_and_single_seed():
    summary = _summary_rows({
        ("painn", "erm"): {T1: 0.3, T2: 0.5},
        ("painn", "mex"): {T1: 0.1, T2: 0.2},
        ("equiformer_v2", "erm"): {T1: 0.2},  # not run on T2
    })
    summary.loc[(summary["backbone"] == "painn") & (summary["method"] == "mex") & (summary["task"] == T2),
                ["n_seeds", "mae_std"]] = [1, np.nan]
    table = tables.paper_table(summary, "mae", higher_is_better=False, backbone_order=["painn", "equiformer_v2"])
    assert table.rows == [("painn", "erm"), ("painn", "mex"), ("equiformer_v2", "erm")]
    # ranks within each backbone: PaiNN mex 1, erm 2 on both tasks; EquiformerV2's lone ERM row is 1 on T1
    assert math.isnan(table.rank.loc[("equiformer_v2", "erm"), T2])
    assert table.avg_rank.to_dict() == {("painn", "erm"): 2.0, ("painn", "mex"): 1.0,
                                        ("equiformer_v2", "erm"): 1.0}
    markdown = table.to_markdown()
    # a lone row has nothing to beat: no marks, whatever the other backbone's values
    assert "| EquiformerV2 | ERM | 0.200(0.010) | — | 1.00 |" in markdown
    assert "**0.200(—)**" in markdown  # single seed: std shown as —
    assert "single seed" in markdown and "not run" in markdown
    assert "---" in table.to_latex()

    frame = table.to_frame()
    assert list(frame.columns[:5]) == ["backbone", "method", "role", f"{T1}_mean", f"{T1}_std"]
    assert frame["avg_rank"].tolist() == [2.0, 1.0, 1.0]
    assert frame["n_tasks_ranked"].tolist() == [2, 2, 1]


def test_paper_table_marks_pairs_skipped_by_design_as_not_applicable():
    mps, hoip = "mps_band_gap", "hoip_high_band_gap"
    summary = _summary_rows({("magpie_mlp", "erm"): {mps: 0.6, hoip: 0.4}, ("magpie_mlp", "mex"): {mps: 0.5, hoip: 0.3},
                             ("painn", "erm"): {hoip: 0.2}, ("painn", "mex"): {hoip: 0.1}})
    reason = "composition only: dataset mps has no structures for painn"
    table = tables.paper_table(summary, "mae", higher_is_better=False, task_order=[hoip, mps],
                               not_applicable=[{"task": mps, "backbone": "painn", "reason": reason},
                                               {"task": mps, "backbone": "schnet", "reason": "composition only"}])
    # schnet ran nothing at all: it still gets its rows, so the table says why they are empty
    assert table.rows[-2:] == [("schnet", "erm"), ("schnet", "mex")]
    markdown = table.to_markdown()
    assert "| PaiNN | MEX | **0.100(0.010)** | n/a |" in markdown
    assert "| SchNet | ERM | — | n/a |" in markdown
    assert f"n/a: not run by design ({reason}): PaiNN on {mps}." in markdown
    assert "not run for that task" in markdown  # schnet on hoip was simply not run
    # n/a cells are not ranked: on mps only the two magpie rows have ranks (within their backbone)
    assert table.rank[mps].dropna().to_dict() == {("magpie_mlp", "erm"): 2.0, ("magpie_mlp", "mex"): 1.0}
    frame = table.to_frame()
    assert frame.loc[frame["backbone"] == "painn", f"{mps}_not_applicable"].tolist() == [reason, reason]
    assert frame.loc[frame["backbone"] == "magpie_mlp", f"{mps}_not_applicable"].tolist() == ["", ""]


def test_aggregate_tables_script(tmp_path):
    metric_paths = []
    for method, base in (("erm", 0.3), ("ranksim", 0.25), ("mex", 0.2)):
        for seed in range(3):
            for task in (T1, T2):
                path = tmp_path / f"runs/{task}/painn/{method}/seed{seed}/metrics.json"
                path.parent.mkdir(parents=True)
                path.write_text(json.dumps(_run(task, "painn", method, seed, mae=base + 0.01 * seed,
                                                gm=base / 10, spearman=1 - base, detect_recall=1 - base)))
                metric_paths.append(str(path))
    outputs = {"summary": str(tmp_path / "tables/summary.csv")}
    for metric in ("mae", "gm", "spearman"):
        for kind in ("md", "tex", "csv"):
            outputs[f"{metric}_{kind}"] = str(tmp_path / f"tables/{metric}.{kind}")
    smk = FakeSnakemake(input={"metrics": metric_paths}, output=outputs, log=tmp_path / "aggregate.log",
                        params={"method_order": ["erm", "ranksim", "mex"], "task_order": [T2, T1]})
    (tmp_path / "tables").mkdir()
    runpy.run_path(str(SCRIPTS / "aggregate_tables.py"), init_globals={"snakemake": smk})

    summary = pd.read_csv(outputs["summary"])
    assert len(summary) == 6 and set(summary["n_seeds"]) == {3}
    markdown = Path(outputs["mae_md"]).read_text()
    assert markdown.splitlines()[0] == f"| Backbone | Method | {T2} | {T1} | avg. rank |"
    assert "| PaiNN | MEX | **0.210(0.010)** | **0.210(0.010)** | **1.00** |" in markdown
    assert "**0.800(0.000)**" in Path(outputs["spearman_md"]).read_text()
    assert pd.read_csv(outputs["gm_csv"])["avg_rank"].tolist() == [3.0, 2.0, 1.0]


# ------------------------------------------------------------------------------------------------ figures

def _write_split(directory: Path, task: str, side: str, rng) -> tuple[Path, Path]:
    targets = np.sort(rng.normal(1.0, 0.5, 400))
    n_cut = int(0.15 * len(targets))
    split = np.array(["train"] * len(targets), dtype=object)
    if side == "top":
        split[-n_cut:], split[-2 * n_cut:-n_cut] = "test", "val"
    else:
        split[:n_cut], split[n_cut:2 * n_cut] = "test", "val"
    table = pd.DataFrame({"id": [f"m{i}" for i in range(len(targets))], "target": targets, "split": split})
    csv_path, json_path = directory / f"{task}.csv", directory / f"{task}.json"
    table.to_csv(csv_path, index=False)
    summary = {"task": task, "dataset": "toy", "side": side, "target": "n", "transform": "log",
               "n_total": len(table), "tie_rule": "none"}
    for name in ("train", "val", "test"):
        part = table[table["split"] == name]
        summary[name] = {"n": len(part), "min": part["target"].min(), "max": part["target"].max(),
                         "ids": part["id"].tolist()}
    json_path.write_text(json.dumps(summary))
    return csv_path, json_path


def _assert_figure_files(png_path: Path, pdf_path: Path):
    assert png_path.stat().st_size > 10_000
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf_path.read_bytes()[:5] == b"%PDF-"


def test_label_distribution_figure(tmp_path):
    rng = np.random.default_rng(0)
    paths = [_write_split(tmp_path, task, task.rsplit("_", 1)[1], rng)
             for task in ("refractive_index_top", "formation_energy_bottom", "phonons_bottom")]
    summary = json.loads(paths[0][1].read_text())
    cuts = figures.split_cuts(summary)
    assert cuts == pytest.approx([0.5 * (summary["train"]["max"] + summary["val"]["min"]),
                                  0.5 * (summary["val"]["max"] + summary["test"]["min"])])
    smk = FakeSnakemake(input={"tables": [str(c) for c, _ in paths], "summaries": [str(j) for _, j in paths]},
                        output={"png": str(tmp_path / "fig3.png"), "pdf": str(tmp_path / "fig3.pdf")},
                        log=tmp_path / "fig3.log")
    runpy.run_path(str(SCRIPTS / "plot_label_distributions.py"), init_globals={"snakemake": smk})
    _assert_figure_files(tmp_path / "fig3.png", tmp_path / "fig3.pdf")


def test_parity_figure(tmp_path):
    rng = np.random.default_rng(1)
    _, split_json = _write_split(tmp_path, "phonons_top", "top", rng)
    summary = json.loads(split_json.read_text())
    ids = summary["val"]["ids"] + summary["test"]["ids"]
    table = pd.read_csv(tmp_path / "phonons_top.csv").set_index("id").loc[ids]
    prediction_paths = []
    for backbone in ("painn", "schnet"):
        for method in ("erm", "mex", "lds"):
            for seed in (2, 3):
                if backbone == "schnet" and method == "lds":
                    continue  # a missing panel
                path = tmp_path / f"runs/phonons_top/{backbone}/{method}/seed{seed}/predictions.csv"
                path.parent.mkdir(parents=True)
                pd.DataFrame({"id": ids, "split": table["split"].to_numpy(), "y_true": table["target"].to_numpy(),
                              "y_pred": table["target"].to_numpy() * 0.8 + rng.normal(0, 0.05, len(ids))}
                             ).to_csv(path, index=False)
                prediction_paths.append(str(path))
    assert figures.parse_run_path(prediction_paths[0]) == {"task": "phonons_top", "backbone": "painn",
                                                           "method": "erm", "seed": 2}
    smk = FakeSnakemake(input={"predictions": prediction_paths, "split": str(split_json)},
                        output={"png": str(tmp_path / "fig4.png"), "pdf": str(tmp_path / "fig4.pdf")},
                        log=tmp_path / "fig4.log", params={"seed": 3})
    runpy.run_path(str(SCRIPTS / "plot_parity.py"), init_globals={"snakemake": smk})
    _assert_figure_files(tmp_path / "fig4.png", tmp_path / "fig4.pdf")


def test_detection_recall_figure(tmp_path):
    rows = []
    for backbone in ("painn", "equiformer_v2"):
        for method in ("erm", "ranksim", "mex"):
            for task in TASK_ORDER[:4]:
                if backbone == "equiformer_v2" and task == TASK_ORDER[0]:
                    continue
                rows.append({"task": task, "backbone": backbone, "method": method, "n_seeds": 3,
                             "detect_recall_mean": 0.0 if method == "erm" else 0.6,
                             "detect_recall_std": 0.05 if method == "mex" else np.nan})
    summary_path = tmp_path / "summary.csv"
    pd.DataFrame(rows).to_csv(summary_path, index=False)
    smk = FakeSnakemake(input={"summary": str(summary_path)},
                        output={"png": str(tmp_path / "fig5.png"), "pdf": str(tmp_path / "fig5.pdf")},
                        log=tmp_path / "fig5.log")
    runpy.run_path(str(SCRIPTS / "plot_detection_recall.py"), init_globals={"snakemake": smk})
    _assert_figure_files(tmp_path / "fig5.png", tmp_path / "fig5.pdf")


def test_parity_default_seed_is_the_lowest_available(tmp_path):
    rng = np.random.default_rng(2)
    _, split_json = _write_split(tmp_path, "phonons_bottom", "bottom", rng)
    table = pd.read_csv(tmp_path / "phonons_bottom.csv")
    table = table[table["split"] != "train"]
    paths = []
    for method, seeds in (("erm", (4, 5)), ("mex", (5,))):
        for seed in seeds:
            path = tmp_path / f"runs/phonons_bottom/painn/{method}/seed{seed}/predictions.csv"
            path.parent.mkdir(parents=True)
            table.assign(y_true=table["target"], y_pred=table["target"] + 0.1)[["id", "split", "y_true", "y_pred"]] \
                .to_csv(path, index=False)
            paths.append(path)
    figure = figures.plot_parity(paths, split_json, tmp_path / "parity.png")
    titles = [axis.get_title() for axis in figure.axes if axis.get_visible()]
    # seed 4 where it exists; MEX only has seed 5 and says so
    assert titles == ["PaiNN / ERM (seed 4)", "PaiNN / MEX (seed 5)"]
    # the legend sits below every panel's axis labels, never on them
    renderer = figure.canvas.get_renderer()
    legend_top = figure.legends[0].get_window_extent(renderer).y1
    assert all(legend_top <= axis.get_tightbbox(renderer).y0 + 1e-6 for axis in figure.axes if axis.get_visible())
    assert (tmp_path / "parity.png").stat().st_size > 10_000


def test_std_ddof_zero_gives_numpys_population_std_in_every_table(tmp_path):
    """std_ddof: 0 (the MEX authors' compute_res_metric.py: np.std) vs 1 (default, sample std)."""
    from extrapbench.report.running_time import running_time_table
    from extrapbench.report.statistics import statistics_report

    values = {"erm": [0.31, 0.35, 0.30], "ranksim": [0.27, 0.22, 0.29]}
    runs = collect([_run("phonons_top", "painn", method, seed, mae=v, seconds_per_sample=1e-3 * (seed + 1))
                           for method, per_seed in values.items() for seed, v in enumerate(per_seed)]
                          + [_run("phonons_bottom", "painn", "erm", 0, mae=0.4, seconds_per_sample=2e-3)])
    population = summarize(runs, std_ddof=0)
    sample = summarize(runs)
    for method, per_seed in values.items():
        row = population[(population["method"] == method) & (population["task"] == "phonons_top")].iloc[0]
        assert row["mae_std"] == pytest.approx(np.std(per_seed))                    # numpy's default, ddof 0
        assert sample[(sample["method"] == method) & (sample["task"] == "phonons_top")].iloc[0]["mae_std"] == \
            pytest.approx(np.std(per_seed, ddof=1))
    single = population[population["task"] == "phonons_bottom"].iloc[0]
    assert math.isnan(single["mae_std"])                                            # one seed: no std, not 0
    assert set(population["std_ddof"]) == {0} and set(sample["std_ddof"]) == {1}

    table = tables.paper_table(population, "mae")
    assert table.std_ddof == 0 and "ddof=0" in table.to_markdown() and "ddof=1" in tables.paper_table(
        sample, "mae").to_markdown()
    assert f"{np.mean(values['erm']):.3f}({np.std(values['erm']):.3f})" in table.to_markdown()
    with pytest.raises(ValueError, match="ddof=0"):
        tables.paper_table(population, "mae", std_ddof=1)                            # relabelling is refused

    timing = running_time_table(population).to_frame().set_index(["method", "backbone"])
    erm_times = [1e-3, 2e-3, 3e-3, 2e-3]
    assert timing.loc[("erm", "painn"), "seconds_per_sample_std"] == pytest.approx(np.std(erm_times))
    assert "ddof=0" in running_time_table(population).to_markdown()
    report = statistics_report(runs, std_ddof=0)
    diff = np.subtract(values["ranksim"], values["erm"])
    assert report.paired.iloc[0]["std_diff"] == pytest.approx(np.std(diff))
    assert "ddof=0" in report.to_markdown()

    # the workflow passes the config key to the aggregation script
    metric_paths = []
    for i, record in enumerate(runs.to_dict("records")):
        path = tmp_path / f"run{i}/metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                    for k, v in record.items()}))
        metric_paths.append(str(path))
    outputs = {"summary": str(tmp_path / "summary.csv"), "mae_md": str(tmp_path / "mae.md")}
    smk = FakeSnakemake(input={"metrics": metric_paths}, output=outputs, log=tmp_path / "agg.log",
                        params={"std_ddof": 0})
    runpy.run_path(str(SCRIPTS / "aggregate_tables.py"), init_globals={"snakemake": smk})
    assert set(pd.read_csv(outputs["summary"])["std_ddof"]) == {0}
    assert "ddof=0" in Path(outputs["mae_md"]).read_text()


def test_detection_precision_is_left_out_without_train_predictions():
    from extrapbench.report.detection_table import detection_table

    without = summarize(collect([
        _run(T2, "painn", m, s, mae=0.3, detect_recall=0.4 + 0.1 * s, detect_precision=None, detect_f1=None)
        for m in ("erm", "mex") for s in range(2)]))
    assert "detect_recall_mean" in without and "detect_precision_mean" not in without
    table = detection_table(without)
    assert table.header == ["Backbone", "Method", f"{T2}: recall"]
    markdown = table.to_markdown()
    assert "precision and F1 are left out" in markdown
    assert "recall: share of the val ∪ test samples" in markdown and "a train sample predicted there" in markdown

    with_train = summarize(collect([
        _run(T2, "painn", m, s, mae=0.3, detect_recall=0.5, detect_precision=0.6, detect_f1=0.545)
        for m in ("erm", "mex") for s in range(2)]))
    table = detection_table(with_train, methods=["mex", "erm"])
    assert table.header[2:] == [f"{T2}: recall", f"{T2}: precision", f"{T2}: F1"]
    assert [row[1] for row in table.cells] == ["MEX", "ERM"] and table.cells[0][3] == "0.60(0.00)"
    assert "**" not in table.to_markdown()
