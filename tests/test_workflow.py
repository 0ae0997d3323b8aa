"""A real Snakemake run of the whole DAG on a tiny config (shipped phonons data, few epochs)."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

TINY = {
    "data_home": str(SHIPPED_DATA_HOME),
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 32, "out_dim": 16, "num_layers": 2}},
    "methods": {"erm": {}, "mex": {"num_noise_labels": 16, "num_candidates": 64, "search_iterations": 3,
                                   "score_hidden_dim": 16}},
    "seeds": [0, 1],
    "train": {"max_epochs": 3, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
    "resources": {"train_threads": 1},
    "selection": {"seed": 0, "methods": {"mex": {"lambda_abs": [0.25, 1.0]}}},
}


def snakemake(workdir, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s",
                           str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
                           "--configfile", str(workdir / "config.yaml"), *args],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_tables_summarise_the_per_run_metrics(finished_run):
    summary = pd.read_csv(finished_run / "results/tables/summary.csv")
    assert sorted(summary["method"]) == ["erm", "mex"]
    assert set(summary["n_seeds"]) == {2}
    for _, row in summary.iterrows():
        runs = [json.loads((finished_run / f"results/runs/phonons_top/magpie_mlp/{row['method']}/seed{s}/"
                                           "metrics.json").read_text()) for s in (0, 1)]
        for metric in ("mae", "gm", "spearman", "r2", "detect_recall"):
            values = pd.Series([r[metric] for r in runs], dtype=float)
            assert row[f"{metric}_mean"] == pytest.approx(values.mean())
            assert row[f"{metric}_std"] == pytest.approx(values.std())
        preds = pd.read_csv(finished_run / f"results/runs/phonons_top/magpie_mlp/{row['method']}/seed0/"
                                           "predictions.csv")
        test = preds[preds["split"] == "test"]
        assert runs[0]["mae"] == pytest.approx((test["y_true"] - test["y_pred"]).abs().mean())
    markdown = (finished_run / "results/tables/mae.md").read_text()
    assert "phonons_top" in markdown and "**" in markdown and "ERM" in markdown
    assert markdown.index("ERM") < markdown.index("MEX")
    assert "\\textbf" in (finished_run / "results/tables/mae.tex").read_text()


def test_split_summary_and_run_provenance(finished_run):
    split = json.loads((finished_run / "results/splits/phonons_top.json").read_text())
    assert split["train"]["max"] < split["val"]["min"] and split["val"]["max"] < split["test"]["min"]
    provenance = json.loads((finished_run / "results/runs/phonons_top/magpie_mlp/mex/seed1/provenance.json")
                            .read_text())
    assert provenance["seed"] == 1 and provenance["epochs_run"] <= 3
    assert provenance["versions"]["torch"].startswith("2.13.0")
    for key in ("git", "device", "wall_time_s", "config", "best_epoch", "inference_seconds_per_sample"):
        assert key in provenance
    assert provenance["method_details"]["candidate_range"] == "prior"  # the release's fixed [-10, 10]
    assert not list(finished_run.glob("results/runs/**/resume*.pt"))  # completed runs leave no checkpoint
    assert provenance["attempts"] == 1 and provenance["code_sha256"]


def test_files_between_jobs_hold_no_pickled_code(finished_run):
    import stat

    import torch

    models = list(finished_run.glob("results/**/*.pt"))
    assert len(models) >= 4
    for path in models:
        torch.load(path, weights_only=True)
    assert (finished_run / "results/datasets/matbench_phonons.json.gz").exists()
    assert not list(finished_run.glob("results/**/*.pkl"))
    # every output of the training and evaluation jobs (extrapbench.data.write_atomic, metrics.write_json_atomic)
    # has the permissions of a new file, metrics.json included (mkstemp alone would leave it 0600)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in finished_run.glob("results/runs/**/*") if p.is_file()}
    assert "metrics.json" in modes and len(set(modes.values())) == 1, modes


def test_final_runs_use_the_selected_grid_point(finished_run):
    selected = json.loads((finished_run / "results/selection/phonons_top/magpie_mlp/mex/selected.json").read_text())
    assert [p["params"] for p in selected["points"]] == [{"lambda_abs": 0.25}, {"lambda_abs": 1.0}]
    best = min(selected["points"], key=lambda p: p["val_mae"])
    assert selected["selected"] == best["point"]
    for seed in (0, 1):
        provenance = json.loads((finished_run / f"results/runs/phonons_top/magpie_mlp/mex/seed{seed}/"
                                                "provenance.json").read_text())
        assert provenance["config"]["method"]["lambda_abs"] == best["params"]["lambda_abs"]
        assert provenance["selection"]["point"] == best["point"]
    assert not (finished_run / "results/selection/phonons_top/magpie_mlp/erm").exists()  # nothing to select


def test_figures_exist_and_are_not_trivial(finished_run):
    for name in ("fig3_label_distributions", "fig4_parity_phonons_top", "fig5_detection_recall"):
        for ext in ("png", "pdf"):
            path = finished_run / f"results/figures/{name}.{ext}"
            assert path.stat().st_size > 5000, path


def test_a_second_run_recomputes_nothing(finished_run):
    result = snakemake(finished_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_the_html_report_builds_with_tables_figures_and_provenance(finished_run):
    result = snakemake(finished_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    # docutils warnings (e.g. a category named like one of Snakemake's own panels) mean broken links in the report
    assert "(WARNING/" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    html = (finished_run / "report.html").read_text(errors="replace")
    assert len(html) > 100_000
    for name in ("fig3_label_distributions.png", "mae.csv", "table1_splits.csv", "provenance.csv",
                 "statistics_ranks.csv", "selected.json"):
        assert name in html, name


def test_grid_points_keep_no_checkpoint_and_are_evaluated_by_the_selection(finished_run):
    selection = finished_run / "results/selection/phonons_top/magpie_mlp/mex"
    assert not list(selection.glob("**/*.pt"))  # no model.pt, no resume checkpoint left after selection
    grid = json.loads((selection / "grid_metrics.json").read_text())
    assert [p["point"] for p in grid["points"]] == ["p000", "p001"] and all("mae" in p for p in grid["points"])
