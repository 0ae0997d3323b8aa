"""Table 1, Table 4, the running-time and candidate-range tables and Fig. 6, from synthetic inputs."""
import json
import math
import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extrapbench.report.candidate_range import candidate_range_table
from extrapbench.report.format import fmt_range
from extrapbench.report.lambda_figure import baseline_lines, lambda_curves, plot_lambda_sensitivity
from extrapbench.report.running_time import pooled_mean_std, running_time_table
from extrapbench.report.split_table import split_table
from extrapbench.report.summary import collect, summarize
from extrapbench.report.variants import read_run_provenance, variant_tables

from conftest import FakeSnakemake

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
T1, T2, T3 = "formation_energy_bottom", "phonons_bottom", "phonons_top"


def _outputs(tmp_path, stem, kinds=("md", "tex", "csv")):
    return {kind: str(tmp_path / f"out/{stem}.{kind}") for kind in kinds}


def _assert_figure_files(png_path: Path, pdf_path: Path):
    assert png_path.stat().st_size > 5_000
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf_path.read_bytes()[:5] == b"%PDF-" and pdf_path.stat().st_size > 1_000


# ------------------------------------------------------------------------------------------------ Table 1

def _split_json(directory: Path, task, side, counts, ranges, dataset="toy"):
    summary = {"task": task, "dataset": dataset, "side": side, "target": "e_form", "transform": "none",
               "split": "range", "n_total": sum(counts), "tie_rule": "ties go to the held-out side"}
    for part, n, (low, high) in zip(("train", "val", "test"), counts, ranges):
        summary[part] = {"n": n, "min": low, "max": high, "ids": [f"{part}{i}" for i in range(n)]}
    path = directory / f"{task}.json"
    path.write_text(json.dumps(summary))
    return path, summary


def test_split_table_numbers_equal_the_split_jsons(tmp_path):
    paths, summaries = zip(
        _split_json(tmp_path, T3, "top", (884, 191, 190), ((4.087416, 6.449815), (6.452972, 6.796360),
                                                          (6.796835, 8.200766))),
        _split_json(tmp_path, T1, "bottom", (13250, 2839, 2839), ((1.0612, 5.1633), (0.7589, 1.0611),
                                                                  (-0.6401, 0.7588))),
        _split_json(tmp_path, T2, "bottom", (885, 188, 192), ((5.72223, 8.20077), (5.40681, 5.71895),
                                                              (4.08742, 5.40531))),
    )
    table = split_table(paths)
    frame = table.to_frame()
    assert frame["task"].tolist() == [T1, T2, T3]  # the paper's task order, not the input order
    for summary in summaries:
        row = frame[frame["task"] == summary["task"]].iloc[0]
        assert row["n_total"] == summary["n_total"]
        for part in ("train", "val", "test"):
            assert row[f"n_{part}"] == summary[part]["n"]
            assert row[f"{part}_min"] == summary[part]["min"] and row[f"{part}_max"] == summary[part]["max"]

    markdown = table.to_markdown()
    assert ("| formation_energy_bottom | toy | e_form | bottom | 18,928 | 13,250 | 2,839 | 2,839 | [1.06, 5.16] | "
            "[0.76, 1.06] | [-0.64, 0.76] |") in markdown
    assert "| [4.09, 6.45] | [6.45, 6.80] | [6.80, 8.20] |" in markdown
    assert "ties go to the held-out side" in markdown
    latex = table.to_latex()
    assert r"\toprule" in latex and r"formation\_energy\_bottom" in latex and "[-0.64, 0.76]" in latex

    outputs = _outputs(tmp_path, "table1")
    smk = FakeSnakemake(input={"splits": [str(p) for p in paths]}, output=outputs, log=tmp_path / "t1.log")
    runpy.run_path(str(SCRIPTS / "table_splits.py"), init_globals={"snakemake": smk})
    written = pd.read_csv(outputs["csv"])
    assert written["n_train"].tolist() == [13250, 885, 884]
    assert written["test_min"].tolist() == [-0.6401, 4.08742, 6.796835]
    assert Path(outputs["md"]).read_text() == markdown and Path(outputs["tex"]).read_text() == latex


def test_split_table_rounds_negative_zero():
    assert fmt_range(-0.001, 1.175) == "[0.00, 1.18]"  # the paper prints "[0, 1.18]"


# ------------------------------------------------------------------------------------------------ run records

MEX_DEFAULTS = {"lambda_abs": 0.5, "score": "mlp", "candidate_range": "train_margin", "range_margin": 1.0,
                "range_prior": None, "num_candidates": 1500}


def _write_run(root: Path, task, backbone, method, seed, metrics, method_config=None, registered=None,
               candidate_range=None):
    """metrics.json + provenance.json of one run under root/runs/..., like the train + evaluate rules."""
    run_dir = root / f"runs/{task}/{backbone}/{method}/seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps({"task": task, "backbone": backbone, "method": method,
                                                      "seed": seed, "n_test": 10, **metrics}))
    details = {}
    if candidate_range is not None:
        details = {"candidate_range": method_config["candidate_range"], "candidate_range_transformed":
                   list(candidate_range)}
    provenance = {"task": task, "backbone": backbone, "method": method, "seed": seed,
                  "registered_method": registered or method,
                  "config": {"method": method_config or {}, "train": {"batch_size": 64, "learning_rate": 1e-3}},
                  "method_details": details}
    (run_dir / "provenance.json").write_text(json.dumps(provenance))
    return run_dir / "metrics.json", run_dir / "provenance.json"


# ------------------------------------------------------------------------------------------------ Table 4

def test_variant_table_equals_the_per_run_means_and_stds(tmp_path):
    rng = np.random.default_rng(0)
    entries = {"mex": "mlp", "mex_cos": "cos", "mex_mlp+cos": "mlp+cos"}
    values, metric_paths, provenance_paths = {}, [], []
    for task in (T2, T3):
        for method in ("erm", *entries):
            for seed in range(3):
                mae, gm = rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.3)
                values[(task, method, seed)] = (mae, gm)
                is_mex = method != "erm"
                config = {**MEX_DEFAULTS, "score": entries[method]} if is_mex else {"loss": "l1"}
                m, p = _write_run(tmp_path, task, "painn", method, seed, {"mae": mae, "gm": gm}, config,
                                  registered="mex" if is_mex else "erm", candidate_range=(0, 1) if is_mex else None)
                metric_paths.append(m)
                provenance_paths.append(p)
    summary = summarize(collect(metric_paths))
    variants = variant_tables(summary, provenance_paths)

    assert variants.entries["label"].tolist() == ["mlp (MEX)", "mlp+cos (mex_mlp+cos)", "cos (mex_cos)"]
    mae_table = variants.tables["mae"]
    assert [m for _, m in mae_table.rows] == ["mlp (MEX)", "mlp+cos (mex_mlp+cos)", "cos (mex_cos)"]  # no ERM
    for method, label in zip(entries, ["mlp (MEX)", "cos (mex_cos)", "mlp+cos (mex_mlp+cos)"]):
        for task in (T2, T3):
            for index, metric in enumerate(("mae", "gm")):
                per_seed = [values[(task, method, seed)][index] for seed in range(3)]
                table = variants.tables[metric]
                assert table.mean.loc[("painn", label), task] == pytest.approx(np.mean(per_seed))
                assert table.std.loc[("painn", label), task] == pytest.approx(np.std(per_seed, ddof=1))

    frame = variants.to_frame()
    assert set(frame["metric"]) == {"mae", "gm"}
    assert frame.loc[frame["label"] == "cos (mex_cos)", "method"].unique().tolist() == ["mex_cos"]
    assert frame.loc[frame["label"] == "cos (mex_cos)", "score"].unique().tolist() == ["cos"]

    summary_path = tmp_path / "summary.csv"
    summary.to_csv(summary_path, index=False)
    outputs = _outputs(tmp_path, "table4")
    smk = FakeSnakemake(input={"summary": str(summary_path), "provenance": [str(p) for p in provenance_paths],
                               "metrics": [str(m) for m in metric_paths]},
                        output=outputs, log=tmp_path / "t4.log")
    runpy.run_path(str(SCRIPTS / "table_variants.py"), init_globals={"snakemake": smk})
    markdown = Path(outputs["md"]).read_text()
    assert "## test MAE" in markdown and "## test GM" in markdown
    assert "| Backbone | Score module (entry) |" in markdown and "| PaiNN | cos (mex_cos) |" in markdown
    # an ablation table: no marks; each variant's Δ and paired p against the default score module instead
    assert "**" not in markdown
    cos = [values[(T2, "mex_cos", seed)][0] for seed in range(3)]
    mlp = [values[(T2, "mex", seed)][0] for seed in range(3)]
    from scipy import stats
    expected = f"Δ {np.mean(np.subtract(cos, mlp)):+.3f}, p {stats.ttest_rel(cos, mlp).pvalue:.2g}"
    assert expected in markdown
    mlp_row = next(line for line in markdown.splitlines() if line.startswith("| PaiNN | mlp (MEX) |"))
    assert "Δ" not in mlp_row  # the reference itself
    assert "Score module (entry)" in Path(outputs["tex"]).read_text()
    assert len(pd.read_csv(outputs["csv"])) == 6  # 3 entries x 2 metrics


def test_registered_method_falls_back_to_the_resolved_config():
    record = {"task": T2, "backbone": "painn", "method": "mex_cos", "seed": 0,
              "config": {"method": {"score": "cos"}, "resolved": {"methods": {"mex_cos": {"method": "mex"}}}}}
    frame = read_run_provenance([record])
    assert frame["registered_method"].tolist() == ["mex"] and frame["score"].tolist() == ["cos"]


# ------------------------------------------------------------------------------------------------ running time

def test_running_time_table_pools_tasks_and_seeds(tmp_path):
    rng = np.random.default_rng(1)
    per_run = {}
    metric_paths = []
    layout = {("erm", "painn"): {T2: 3, T3: 3}, ("mex", "painn"): {T2: 3, T3: 1},  # T3: a single seed
              ("erm", "schnet"): {T2: 2}, ("mex", "schnet"): {T2: 2, T3: 2}}  # ERM not run on T3
    for (method, backbone), tasks in layout.items():
        for task, n_seeds in tasks.items():
            for seed in range(n_seeds):
                seconds = rng.uniform(0.004, 0.008) if method == "mex" else rng.uniform(0.001, 0.003)
                per_run[(method, backbone, task, seed)] = seconds
                metric_paths.append(_write_run(tmp_path, task, backbone, method, seed,
                                               {"mae": 0.5, "seconds_per_sample": seconds})[0])
    summary = summarize(collect(metric_paths))
    table = running_time_table(summary)
    frame = table.to_frame().set_index(["method", "backbone"])
    for (method, backbone), tasks in layout.items():
        values = [v for (m, b, _, _), v in per_run.items() if (m, b) == (method, backbone)]
        row = frame.loc[(method, backbone)]
        assert row["seconds_per_sample_mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert row["seconds_per_sample_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        assert row["n_runs"] == len(values)
    # the ratio to ERM uses the tasks both ran: on schnet only T2
    mex_t2 = [v for (m, b, t, _), v in per_run.items() if (m, b, t) == ("mex", "schnet", T2)]
    erm_t2 = [v for (m, b, t, _), v in per_run.items() if (m, b, t) == ("erm", "schnet", T2)]
    assert frame.loc[("mex", "schnet"), "ratio_to_erm"] == pytest.approx(np.mean(mex_t2) / np.mean(erm_t2))
    assert frame.loc[("mex", "schnet"), "n_tasks_in_ratio"] == 1
    assert frame.loc[("erm", "painn"), "ratio_to_erm"] == pytest.approx(1.0)

    summary_path = tmp_path / "summary.csv"
    summary.to_csv(summary_path, index=False)
    outputs = _outputs(tmp_path, "running_time")
    smk = FakeSnakemake(input={"summary": str(summary_path)}, output=outputs, log=tmp_path / "rt.log",
                        params={"backbone_order": ["painn", "schnet"]})
    runpy.run_path(str(SCRIPTS / "table_running_time.py"), init_globals={"snakemake": smk})
    markdown = Path(outputs["md"]).read_text()
    assert markdown.splitlines()[0] == ("| Method | PaiNN: s / sample | PaiNN: × ERM | SchNet: s / sample | "
                                        "SchNet: × ERM |")
    assert markdown.splitlines()[2].startswith("| ERM |") and " ± " in markdown
    assert r"$\pm$" in Path(outputs["tex"]).read_text() and r"$\times$" in Path(outputs["tex"]).read_text()


def test_pooled_mean_std_matches_direct_computation():
    groups = [[1.0, 2.0, 4.0], [3.0], [0.5, 0.7]]
    mean, std, n = pooled_mean_std([np.mean(g) for g in groups],
                                                 [np.std(g, ddof=1) if len(g) > 1 else np.nan for g in groups],
                                                 [len(g) for g in groups])
    flat = [v for g in groups for v in g]
    assert n == 6 and mean == pytest.approx(np.mean(flat)) and std == pytest.approx(np.std(flat, ddof=1))


# ------------------------------------------------------------------------------------------------ candidate range

def _candidate_range_runs(tmp_path, with_dataset=True):
    provenance_paths, metric_paths = [], []
    maes = {"mex": [0.30, 0.32, 0.34], "mex_dataset_range": [0.20, 0.22, 0.24], "mex_cos": [0.40, 0.41, 0.45]}
    configs = {"mex": (MEX_DEFAULTS, (3.24, 10.68)),
               "mex_dataset_range": ({**MEX_DEFAULTS, "candidate_range": "dataset"}, (4.09, 8.20)),
               "mex_cos": ({**MEX_DEFAULTS, "score": "cos"}, (3.24, 10.68))}
    for method, (config, used) in configs.items():
        if method == "mex_dataset_range" and not with_dataset:
            continue
        for seed, mae in enumerate(maes[method]):
            m, p = _write_run(tmp_path, T2, "painn", method, seed, {"mae": mae}, config, registered="mex",
                              candidate_range=used)
            metric_paths.append(m)
            provenance_paths.append(p)
    m, p = _write_run(tmp_path, T2, "painn", "erm", 0, {"mae": 0.5}, {"loss": "l1"})
    return metric_paths + [m], provenance_paths + [p]


def test_candidate_range_difference_against_the_leak_free_entry(tmp_path):
    metric_paths, provenance_paths = _candidate_range_runs(tmp_path)
    split_path, _ = _split_json(tmp_path, T2, "bottom", (885, 188, 192), ((5.72, 8.20), (5.41, 5.72),
                                                                         (4.09, 5.41)))
    summary = summarize(collect(metric_paths))
    table = candidate_range_table(summary, provenance_paths, split_json_paths=[split_path])
    frame = table.to_frame().set_index("method")
    assert "erm" not in frame.index
    dataset = frame.loc["mex_dataset_range"]
    # hand-checked: mean(0.20, 0.22, 0.24) - mean(0.30, 0.32, 0.34) = 0.22 - 0.32 = -0.10
    assert dataset["reference"] == "mex" and dataset["reference_differs_in"] == ""
    assert dataset["mae_mean"] == pytest.approx(0.22) and dataset["mae_std"] == pytest.approx(0.02)
    assert dataset["delta_mae"] == pytest.approx(-0.10)
    assert (dataset["range_low"], dataset["range_high"]) == (4.09, 8.20)
    assert dataset["candidate_range"] == "dataset"
    # a train_margin entry is its own reference; the cos variant is not compared with the mlp one
    assert frame.loc["mex", "reference"] == "mex" and frame.loc["mex", "delta_mae"] == pytest.approx(0.0)
    assert frame.loc["mex_cos", "reference"] == "mex_cos"

    markdown = table.to_markdown()
    assert "-0.100" in markdown and "[4.09, 8.20]" in markdown and "[3.24, 10.68]" in markdown
    assert "**whole-dataset range (paper; leaks the test range)**" in markdown
    assert "Only one candidate-range kind" not in markdown


def test_candidate_range_reference_with_other_hyperparameters(tmp_path):
    """A selected λ makes the default entry differ from the ablation entry: still compared, and said so."""
    _, provenance_paths = _candidate_range_runs(tmp_path)
    records = [json.loads(Path(p).read_text()) for p in provenance_paths]
    for record in records:
        if record["method"] == "mex":
            record["config"]["method"]["lambda_abs"] = 1.0
    summary = pd.DataFrame([{"task": T2, "backbone": "painn", "method": m, "n_seeds": 3, "mae_mean": v,
                             "mae_std": 0.01} for m, v in (("mex", 0.3), ("mex_dataset_range", 0.25),
                                                           ("mex_cos", 0.4))])
    frame = candidate_range_table(summary, records).to_frame().set_index("method")
    assert frame.loc["mex_dataset_range", "reference"] == "mex"
    assert frame.loc["mex_dataset_range", "reference_differs_in"] == "lambda_abs"
    assert frame.loc["mex_dataset_range", "delta_mae"] == pytest.approx(-0.05)


def test_candidate_range_with_a_single_range_kind(tmp_path):
    metric_paths, provenance_paths = _candidate_range_runs(tmp_path, with_dataset=False)
    summary = summarize(collect(metric_paths))
    summary_path = tmp_path / "summary.csv"
    summary.to_csv(summary_path, index=False)
    outputs = _outputs(tmp_path, "candidate_range")
    smk = FakeSnakemake(input={"summary": str(summary_path), "provenance": [str(p) for p in provenance_paths]},
                        output=outputs, log=tmp_path / "cr.log")
    runpy.run_path(str(SCRIPTS / "table_candidate_range.py"), init_globals={"snakemake": smk})
    markdown = Path(outputs["md"]).read_text()
    assert "Only one candidate-range kind was run (train_margin)" in markdown
    assert pd.read_csv(outputs["csv"])["delta_mae"].tolist() == [0.0, 0.0]


# ------------------------------------------------------------------------------------------------ Fig. 6

def _write_selection(root: Path, task, backbone, method, grid, selected_index, test_mae):
    """selected.json + the grid points' metrics.json, as the selection rules write them."""
    base = root / f"selection/{task}/{backbone}/{method}"
    points, metric_paths = [], []
    for index, params in enumerate(grid):
        point = f"p{index:03d}"
        (base / point).mkdir(parents=True, exist_ok=True)
        path = base / point / "metrics.json"
        path.write_text(json.dumps({"task": task, "backbone": backbone, "method": method, "seed": 0,
                                    "mae": test_mae(params), "val_mae": 0.1 + 0.01 * index}))
        metric_paths.append(str(path))
        points.append({"point": point, "params": params, "val_mae": 0.1 + 0.01 * index})
    selected = {"task": task, "backbone": backbone, "method": method, "seed": 0, "metric": "val_mae",
                "points": points, "selected": f"p{selected_index:03d}", "selected_params": grid[selected_index]}
    (base / "selected.json").write_text(json.dumps(selected))
    return str(base / "selected.json"), metric_paths


def _lambda_grid():
    return [{"lambda_abs": lam, "learning_rate": lr} for lam in (0.25, 0.5, 0.75, 1.0) for lr in (1e-4, 1e-3)]


def test_lambda_curves_keep_the_selected_points_other_hyperparameters(tmp_path):
    grid = _lambda_grid()
    selected, points = _write_selection(tmp_path, T2, "painn", "mex", grid, selected_index=3,  # λ 0.5, lr 1e-3
                                        test_mae=lambda p: p["lambda_abs"] + (0 if p["learning_rate"] == 1e-3 else 9))
    curves = lambda_curves([selected], points)
    assert curves["lambda"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert curves["point"].tolist() == ["p001", "p003", "p005", "p007"]
    assert curves["test_mae"].tolist() == [0.25, 0.5, 0.75, 1.0]  # only the lr = 1e-3 points
    assert curves["is_selected"].tolist() == [False, True, False, False]


def test_lambda_sensitivity_figure(tmp_path):
    selections, point_paths = [], []
    for task in (T2, T3):
        for backbone in ("painn", "schnet"):
            s, p = _write_selection(tmp_path, task, backbone, "mex", _lambda_grid(), 2,
                                    test_mae=lambda q: 0.3 + 0.1 * abs(q["lambda_abs"] - 0.5))
            selections.append(s)
            point_paths += p
    summary = pd.DataFrame([{"task": t, "backbone": b, "method": m, "n_seeds": 3, "mae_mean": v, "mae_std": 0.01}
                            for t in (T2, T3) for b in ("painn", "schnet")
                            for m, v in (("erm", 0.4), ("ranksim", 0.35), ("lds", 0.38), ("mex", 0.31))])
    summary_path = tmp_path / "summary.csv"
    summary.to_csv(summary_path, index=False)
    png, pdf = tmp_path / "fig6.png", tmp_path / "fig6.pdf"
    smk = FakeSnakemake(input={"selected": selections, "points": point_paths, "summary": str(summary_path)},
                        output={"png": str(png), "pdf": str(pdf)}, log=tmp_path / "fig6.log")
    runpy.run_path(str(SCRIPTS / "plot_lambda_sensitivity.py"), init_globals={"snakemake": smk})
    _assert_figure_files(png, pdf)
    best = baseline_lines(summary, T2, "painn", "erm", {"mex"}, "mae")
    assert best == (0.4, ("ranksim", 0.35))


def test_lambda_sensitivity_without_lambda_in_the_grid(tmp_path):
    grid = [{"learning_rate": lr} for lr in (1e-4, 1e-3)]
    selected, points = _write_selection(tmp_path, T2, "painn", "mex", grid, 1, test_mae=lambda p: 0.3)
    curves = lambda_curves([selected], points)
    assert len(curves) == 1 and not curves["lambda_in_grid"].any() and math.isnan(curves["lambda"].iloc[0])
    summary = pd.DataFrame([{"task": T2, "backbone": "painn", "method": "erm", "n_seeds": 3, "mae_mean": 0.4,
                             "mae_std": 0.01}])
    png, pdf = tmp_path / "fig6.png", tmp_path / "fig6.pdf"
    figure = plot_lambda_sensitivity([selected], points, summary, png, pdf)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("was not part of" in t for t in texts)
    _assert_figure_files(png, pdf)


# ------------------------------------------------------------------------------------------------ report captions

CAPTIONS = ["workflow", "summary", "mae_table", "gm_table", "spearman_table", "all_methods_tables", "ablations",
            "detection", "table1_splits", "table4_variants",
            "running_time", "candidate_range", "statistics", "fig3_label_distributions", "fig4_parity",
            "fig5_detection_recall", "fig6_lambda_sensitivity", "critical_difference", "selection",
            "other_split_tasks"]


@pytest.mark.parametrize("config_name", ["demo.yaml", "config.yaml"])
def test_report_captions_render_as_snakemake_would(config_name):
    """Each caption is a Jinja template (Snakemake passes a `snakemake` object) that must yield clean RST."""
    jinja2 = pytest.importorskip("jinja2")
    docutils_core = pytest.importorskip("docutils.core")
    yaml = pytest.importorskip("yaml")
    from types import SimpleNamespace

    repo = Path(__file__).resolve().parents[1]
    from extrapbench.config.entries import with_schema_defaults

    schema = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    # as the workflow hands it to the report: every default of the schema filled in
    config = with_schema_defaults(yaml.safe_load((repo / "config" / config_name).read_text()), schema)
    snakemake = SimpleNamespace(config=config, params=SimpleNamespace(seed=0),
                                wildcards=SimpleNamespace(task=T3, backbone="painn", method="mex"))
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for name in CAPTIONS:
        source = (repo / "workflow" / "report" / f"{name}.rst").read_text()
        text = environment.from_string(source).render(snakemake=snakemake)
        assert "{{" not in text and len(text) > 300, name
        # halt_level 2: any docutils warning (bad inline markup, unknown reference, ...) raises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # writer_name: what Snakemake passes
            html = docutils_core.publish_parts(text, writer_name="html",
                                               settings_overrides={"halt_level": 2, "report_level": 5})["body"]
        assert "system-message" not in html, name
