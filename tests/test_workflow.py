"""A real Snakemake run of the whole DAG on a tiny config (shipped phonons data, few epochs)."""
from __future__ import annotations

import json
import re
import shutil
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
    # every output of the training and evaluation jobs (extrapbench.data.write_atomic, evaluation.write_json_atomic)
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


def test_reference_predictors_and_the_random_twin_reach_every_table(finished_run):
    """The references are runs (predicted once, evaluated per backbone), unranked rows of the main tables,
    the skill table's baseline, and the random twin gives the extrapolation penalty."""
    results = finished_run / "results"
    split = json.loads((results / "splits/phonons_top.json").read_text())
    edge = pd.read_csv(results / "references/phonons_top/edge_train/seed1/predictions.csv")
    assert set(edge["y_pred"]) == {split["train"]["max"]}  # a top task: the train maximum, for every material
    metrics = json.loads((results / "runs/phonons_top/magpie_mlp/edge_train/seed0/metrics.json").read_text())
    test = edge[edge["split"] == "test"]
    assert metrics["backbone"] == "magpie_mlp" and metrics["mae"] == pytest.approx((test["y_true"] - test["y_pred"]).abs().mean())

    assert set(pd.read_csv(results / "tables/summary.csv")["method"]) == {"erm", "mex"}
    assert set(pd.read_csv(results / "tables/summary_references.csv")["method"]) == {
        "edge_train", "edge_known", "train_mean", "random_forest", "ridge"}
    mae = pd.read_csv(results / "tables/mae.csv").set_index("method")
    assert mae.loc["edge_train", "role"] == "reference" and pd.isna(mae.loc["edge_train", "phonons_top_rank"])
    assert sorted(mae.loc[["erm", "mex"], "phonons_top_rank"]) == [1.0, 2.0]
    assert "| ref: RF (Magpie) |" in (results / "tables/mae.md").read_text()
    skill = pd.read_csv(results / "tables/skill.csv").set_index("method")
    assert skill.loc["edge_train", "phonons_top_skill_mean"] == 0.0
    assert skill.loc["erm", "phonons_top_skill_mean"] == pytest.approx(
        1 - mae.loc["erm", "phonons_top_mean"] / mae.loc["edge_train", "phonons_top_mean"])
    beats = pd.read_csv(results / "tables/beats_erm_edge.csv").set_index(["task", "method"])
    assert beats.loc[("phonons_top", "erm"), "edge_mean_diff"] == pytest.approx(
        mae.loc["erm", "phonons_top_mean"] - mae.loc["edge_train", "phonons_top_mean"])
    assert set(beats.index.get_level_values("method")) == {"erm", "mex"}  # methods only, the references not

    twin = json.loads((results / "splits/phonons_top_random.json").read_text())
    assert [twin[p]["n"] for p in ("train", "val", "test")] == [split[p]["n"] for p in ("train", "val", "test")]
    assert twin["split"] == "random" and set(twin["test"]["ids"]) != set(split["test"]["ids"])
    penalty = pd.read_csv(results / "tables/extrapolation_penalty.csv").set_index("method")
    random_mae = [json.loads((results / f"runs/phonons_top_random/magpie_mlp/erm/seed{s}/metrics.json").read_text())
                  ["mae"] for s in (0, 1)]
    range_mae = [json.loads((results / f"runs/phonons_top/magpie_mlp/erm/seed{s}/metrics.json").read_text())["mae"]
                 for s in (0, 1)]
    assert penalty.loc["erm", "phonons_top_penalty_mean"] == pytest.approx(
        (range_mae[0] / random_mae[0] + range_mae[1] / random_mae[1]) / 2)
    assert (results / "figures/mae_vs_references_phonons_top.png").stat().st_size > 5000
    assert "phonons_top_random" not in (results / "tables/mae.md").read_text()


def test_a_second_run_recomputes_nothing(finished_run):
    result = snakemake(finished_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_deleted_checkpoint_retrains_its_run_on_a_plain_rerun(finished_run, tmp_path):
    """model.pt is a target of the workflow : deleting it is noticed, and only its run is retrained."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    (workdir / "results/runs/phonons_top/magpie_mlp/erm/seed1/model.pt").unlink()
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = re.findall(r"^rule (\w+):\n(?:.*\n)*?    wildcards: (.*)$", result.stdout, re.M)
    trained = [wildcards for rule, wildcards in planned if rule.startswith("train")]
    assert trained == ["task=phonons_top, backbone=magpie_mlp, method=erm, seed=1"], result.stdout[-3000:]


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


RUN_FILES = ("history.csv", "model.pt", "predictions.csv", "provenance.json")


def job_counts(output):
    """Snakemake's 'Job stats' table -> {rule: count}."""
    counts = {}
    for match in re.finditer(r"^([a-z_]+)\s+(\d+)$", output, re.M):
        counts.setdefault(match.group(1), int(match.group(2)))
    return counts


def test_seeds_in_one_job_trains_every_seed_as_train_does(finished_run, tmp_path):
    """`resources.seeds_in_one_job`: one train_seeds job per (task, backbone, method), each seed into its own run
    folder and log with train's files, the same predictions for the same seed, the selection and everything
    upstream untouched, nothing left to do afterwards."""
    import torch

    workdir = tmp_path / "packed"
    shutil.copytree(finished_run, workdir, symlinks=True)
    shutil.rmtree(workdir / "results/runs")
    shutil.rmtree(workdir / "results/logs/train")
    (workdir / "config.yaml").write_text(yaml.safe_dump({**TINY, "resources": {**TINY["resources"],
                                                                                "seeds_in_one_job": True}}))
    targets = [f"results/runs/phonons_top/magpie_mlp/{m}/seed{s}/metrics.json" for m in ("erm", "mex") for s in (0, 1)]
    result = snakemake(workdir, "--cores", "2", *targets)  # an option first: --configfile takes several files
    assert result.returncode == 0, result.stderr[-5000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train_seeds"] == 2 and counts["evaluate_runs"] == 2, counts
    assert not {"train", "train_grid_point", "select_hyperparameters", "split_task"} & set(counts), counts
    assert not list(workdir.glob("results/runs/**/resume*.pt"))  # the job is done: no resume checkpoint left
    for method in ("erm", "mex"):
        for seed in (0, 1):
            run = f"results/runs/phonons_top/magpie_mlp/{method}/seed{seed}"
            log = f"results/logs/train/phonons_top/magpie_mlp/{method}/seed{seed}.log"
            files = [sorted(p.name for p in (d / run).iterdir()) for d in (workdir, finished_run)]
            assert files[0] == files[1] and set(RUN_FILES) <= set(files[0])
            pd.testing.assert_frame_equal(pd.read_csv(workdir / run / "predictions.csv"),
                                          pd.read_csv(finished_run / run / "predictions.csv"))
            packed, single = (json.loads((d / run / "provenance.json").read_text()) for d in (workdir, finished_run))
            assert set(packed) == set(single)
            for key in ("seed", "epochs_run", "best_epoch", "best_val_mae", "attempts", "attempt_logs", "selection"):
                assert packed[key] == single[key], key
            assert packed["attempt_logs"] == [log] and (workdir / log).exists()
            assert not list((workdir / log).parent.glob("*.attempt*"))
            weights, single_weights = (torch.load(d / run / "model.pt", weights_only=True)["state_dict"]
                                       for d in (workdir, finished_run))
            assert weights.keys() == single_weights.keys()
            assert all(torch.equal(weights[k], single_weights[k]) for k in weights)
    # a second run: nothing to do
    again = snakemake(workdir, "-n", *targets)  # -n ends --configfile's files
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


# train_seeds' script as Snakemake runs it (a `snakemake` object, the working directory), killed in its second seed
# when `kill_at` > 0 (the kill_at-th validation of the job raises KeyboardInterrupt, as a SLURM kill would stop it)
SEEDS_JOB = """
import json, runpy, sys
sys.path.insert(0, {repo!r})
import extrapbench.training.loop as training

spec, kill_at, calls = json.loads({spec!r}), {kill_at}, [0]
original = training.validation_score


def dying(*args, **kwargs):
    calls[0] += 1
    if calls[0] == kill_at:
        raise KeyboardInterrupt
    return original(*args, **kwargs)


training.validation_score = dying


class Names(list):
    def __init__(self, named):
        super().__init__(v for value in named.values() for v in (value if isinstance(value, list) else [value]))
        self.__dict__.update(named)
        self._names = list(named)

    def keys(self):
        return self._names


class Snakemake:
    input, output, params = Names(spec["input"]), Names(spec["output"]), Names(spec["params"])
    wildcards, log, config, threads, rule = Names(spec["wildcards"]), spec["log"], spec["config"], 1, "train_seeds"


runpy.run_path({script!r}, init_globals={{"snakemake": Snakemake}}, run_name="__main__")
"""


def test_a_killed_train_seeds_job_restores_its_finished_seeds_and_resumes_the_next(finished_run, tmp_path):
    """Killed in its second seed, then rerun as Snakemake reruns it (outputs and logs deleted first): the first seed
    is restored from its resume checkpoint, not retrained, the second resumes; both match the per-seed train rule's
    runs, each seed's provenance lists its logs of both attempts, and the resume checkpoints go at the end."""
    from extrapbench.config.entries import train_settings

    run_dir, log_dir = "results/runs/phonons_top/magpie_mlp/erm/seed{}", "results/logs/train/phonons_top/magpie_mlp/erm"
    spec = {
        "input": {name: str(finished_run / f"results/{path}") for name, path in (
            ("split_json", "splits/phonons_top.json"), ("split_csv", "splits/phonons_top.csv"),
            ("representation", "features/matbench_phonons/magpie.csv"))},
        "output": {name: [f"{run_dir.format(s)}/{file}" for s in (0, 1)] for name, file in (
            ("predictions", "predictions.csv"), ("history", "history.csv"), ("checkpoint", "model.pt"),
            ("provenance", "provenance.json"))},
        "params": {"run": {"backbone_params": TINY["backbones"]["magpie_mlp"], "method_params": {},
                           "train_params": train_settings(TINY, "magpie_mlp", "erm", "phonons_top"), "seeds": [0, 1]},
                   "predict_train": True},
        "wildcards": {"task": "phonons_top", "backbone": "magpie_mlp", "method": "erm"},
        "log": [f"{log_dir}/seed{s}.log" for s in (0, 1)], "config": TINY}

    def job(kill_at):
        code = SEEDS_JOB.format(repo=str(REPO), spec=json.dumps(spec), kill_at=kill_at,
                                script=str(REPO / "scripts" / "train.py"))
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)

    epochs = TINY["train"]["max_epochs"]  # patience > max_epochs: every seed trains them all
    killed = job(kill_at=epochs + 2)  # in seed 1's second epoch
    assert killed.returncode != 0, killed.stderr[-3000:]
    assert f"train_seeds interrupted (log: {log_dir}/seed1.log)" in killed.stderr, killed.stderr[-3000:]
    seed0, seed1, logs = tmp_path / run_dir.format(0), tmp_path / run_dir.format(1), tmp_path / log_dir
    assert (seed0 / "predictions.csv").exists() and (seed0 / "resume-main.pt").exists()
    assert not (seed1 / "predictions.csv").exists() and (seed1 / "resume-main.pt").exists()
    first_log = (logs / "seed0.log").read_text()
    for path in [p for p in (seed0, seed1) for p in p.iterdir() if p.suffix != ".pt"] + list(logs.glob("*.log")):
        path.unlink()  # Snakemake deletes a failed job's outputs and logs before it runs the job again

    rerun = job(kill_at=0)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for seed, run in enumerate((seed0, seed1)):
        pd.testing.assert_frame_equal(pd.read_csv(run / "predictions.csv"),
                                      pd.read_csv(finished_run / run_dir.format(seed) / "predictions.csv"))
        provenance = json.loads((run / "provenance.json").read_text())
        assert provenance["attempt_logs"] == [f"{log_dir}/seed{seed}.log.attempt1", f"{log_dir}/seed{seed}.log"]
        assert provenance["epochs_run"] == epochs
        assert (provenance["attempts"], provenance["resumed_from_epoch"]) == ((1, epochs) if seed == 0 else (2, 1))
    assert "finished in an earlier attempt, restored" in (logs / "seed0.log").read_text()
    assert (logs / "seed0.log.attempt1").read_text() == first_log  # the killed attempt's training log is kept
    assert sorted(p.name for p in logs.iterdir()) == ["seed0.log", "seed0.log.attempt1", "seed1.log",
                                                      "seed1.log.attempt1"]
    assert not list(tmp_path.glob("results/runs/**/resume-*.pt"))
