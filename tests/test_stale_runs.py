"""Tables and figures are made only from runs of the config they are made for, and each says which config made it.

* A run whose backbone, method, training, graph or selection settings differ from the config's stops every table and
  figure (rule report_stamp), one line per run with its folder and each differing key (the run's → the config's);
  `report.allow_stale_runs: true` draws them, marked in the notes of every table made from them.
* A second config in the same results/ moves the first one's tables and figures aside (results/stale/<config>-
  <digest>/, with a README naming the config that made them) instead of overwriting them or leaving the ones it
  does not make beside its own; every Markdown / LaTeX table ends with the stamp line (config file, config digest,
  code commit), every figure carries it in its PNG / PDF metadata.

The workflow tests run one small workflow (config/demo.yaml cut to phonons_top, ERM + MEX with MEX's λ selection, one
seed, two epochs, the edge_train reference only) once; each scenario works on its own copy. The rest calls the
library (extrapbench.report.provenance_check, .stamp, .stale_outputs) directly.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = Path(sys.executable).parent
ERM, MEX = ("results/runs/phonons_top/magpie_mlp/erm/seed0", "results/runs/phonons_top/magpie_mlp/mex/seed0")
GRID = "results/selection/phonons_top/magpie_mlp/mex/p000-p001"
MEX_ONLY = ("table4_mex_variants", "mex_candidate_range")


def demo_cut() -> dict:
    """config/demo.yaml cut to one task, ERM and a small MEX (its λ grid of two points, one job), one seed, two
    epochs, the edge_train reference, no random twins."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config.update({
        "data_home": str(SHIPPED_DATA_HOME),
        "tasks": ["phonons_top"],
        "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
        "methods": {"erm": {}, "mex": {"num_noise_labels": 8, "num_candidates": 32, "search_iterations": 2,
                                       "score_hidden_dim": 8}},
        "seeds": [0],
        "references": {"edge_train": {}},
        "in_distribution": None,
        "selection": {"seed": 0, "grid": {}, "methods": {"mex": {"lambda_abs": [0.25, 1.0]}}},
    })
    config["train"] = {**config["train"], "max_epochs": 2}
    config["resources"] = {**config["resources"], "per_backbone": {
        "magpie_mlp": {"runtime": 30, "mem_mb": 2000, "grid_points_per_job": 2}}}
    return config


def write_config(workdir: Path, name: str, config: dict) -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, config: Path, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(SNAKEFILE), "--directory",
                           str(workdir), *args, "--configfile", str(config)],
                          capture_output=True, text=True, timeout=timeout)


def make_figures(workdir: Path, config: Path, timeout=600):
    """`make figures CONFIG=...`, the workflow in `workdir` (as tests/test_cluster_commands.py runs make)."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "figures", f"BIN={BIN}", "STAMP=",
                           f"CONFIG={config}", f"SMK_ARGS=-s {SNAKEFILE} --directory {workdir}"],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Config A (demo_cut) run to the end."""
    workdir = tmp_path_factory.mktemp("stale_runs")
    result = snakemake(workdir, write_config(workdir, "a.yaml", demo_cut()))
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture
def copy_of(finished, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(finished, workdir, symlinks=True)
    return workdir


def edited() -> dict:
    """Config A with another backbone size and another MEX hyper-parameter (not one its grid covers)."""
    config = demo_cut()
    config["backbones"]["magpie_mlp"]["hidden_dim"] = 24
    config["methods"]["mex"]["num_noise_labels"] = 12
    return config


def stamp_line_of(text: str) -> str:
    return next(line for line in text.splitlines() if "Made by config" in line)


# --- 1. tables from runs the config no longer describes ------------------------------------------------------------

def test_figures_stop_at_runs_trained_under_other_settings_one_line_per_run(copy_of):
    tables = {path: path.read_bytes() for path in (copy_of / "results/tables").rglob("*") if path.is_file()}
    result = make_figures(copy_of, write_config(copy_of, "edited.yaml", edited()))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-5000:]
    assert "report_stamp failed: StaleRunsError: 4 runs trained with other settings than config `edited.yaml`" \
        in output, output[-5000:]
    message = output.split("StaleRunsError: ", 1)[1].split("Retrain them", 1)[0]
    lines = message.splitlines()
    for folder, keys in ((ERM, "backbones.magpie_mlp.hidden_dim 16 → 24"),
                         (MEX, "backbones.magpie_mlp.hidden_dim 16 → 24; methods.mex.num_noise_labels 8 → 12"),
                         (f"{GRID} (p000)", "backbones.magpie_mlp.hidden_dim 16 → 24; methods.mex.num_noise_labels"),
                         (f"{GRID} (p001)", "backbones.magpie_mlp.hidden_dim 16 → 24; methods.mex.num_noise_labels")):
        assert any(line.strip().startswith(f"{folder}: {keys}") for line in lines), (folder, output[-5000:])
    # λ is the selection's: the chosen grid point trained a λ no config entry names, and that is no difference
    assert len(lines) == 5 and "lambda_abs" not in message and "edge_train" not in message
    assert "or set `report.allow_stale_runs: true` in the config" in output
    # nothing was drawn, nothing moved: the tables on disk are config A's, untouched
    assert {path: path.read_bytes() for path in (copy_of / "results/tables").rglob("*") if path.is_file()} == tables
    assert not (copy_of / "results/stale").exists()


def test_allow_stale_runs_draws_them_marked_in_every_table_made_from_them(copy_of):
    config = write_config(copy_of, "edited.yaml", {**edited(), "report": {"allow_stale_runs": True}})
    # as `make figures` runs it (nothing trains, the stamp is forced), for four of its outputs
    result = snakemake(copy_of, config, "results/tables/mae.md", "results/tables/table1_splits.md",
                       "results/tables/table4_mex_variants.md", "results/figures/fig4_parity_phonons_top.png",
                       "--rerun-triggers", "mtime", "--forcerun", "report_stamp", "--allowed-rules", "report_stamp",
                       "aggregate_tables", "table_splits", "plot_parity", "table_variants", timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    mae = (copy_of / "results/tables/mae.md").read_text()
    stale = next(line for line in mae.splitlines() if line.startswith("- STALE RUNS:"))
    assert "drawn from 2 runs" in stale and f"{ERM} (backbones.magpie_mlp.hidden_dim 16 → 24)" in stale
    assert f"{MEX} (backbones.magpie_mlp.hidden_dim 16 → 24; methods.mex.num_noise_labels 8 → 12)" in stale
    assert "`edited.yaml`" in stamp_line_of(mae)
    assert "% STALE RUNS: drawn from 2 runs" in (copy_of / "results/tables/mae.tex").read_text()
    # Table 4 reads the summary, i.e. every run, the grid points too
    assert "- STALE RUNS: drawn from 4 runs" in (copy_of / "results/tables/table4_mex_variants.md").read_text()
    # the split table reads no run: stamped, not marked
    splits = (copy_of / "results/tables/table1_splits.md").read_text()
    assert "STALE" not in splits and "`edited.yaml`" in stamp_line_of(splits)
    from PIL import Image

    with Image.open(copy_of / "results/figures/fig4_parity_phonons_top.png") as image:
        assert "STALE RUNS: drawn from 2 runs" in image.text["Description"]
    stamp = json.loads((copy_of / "results/tables/stamp.json").read_text())
    assert stamp["allow_stale_runs"] and len(stamp["stale_runs"]) == 4
    assert {run["folder"] for run in stamp["stale_runs"]} == {ERM, MEX, f"{GRID} (p000)", f"{GRID} (p001)"}


# --- 2. another config's outputs ---------------------------------------------------------------------------------

def test_a_second_config_moves_the_first_ones_outputs_aside_and_every_output_is_stamped(copy_of):
    from PIL import Image

    first = json.loads((copy_of / "results/tables/stamp.json").read_text())
    assert first["config_files"] == ["a.yaml"] and not first["stale_runs"]
    a_mae = (copy_of / "results/tables/mae.md").read_text()
    config_b = demo_cut()
    config_b["methods"] = {"erm": {}}
    del config_b["selection"]
    result = make_figures(copy_of, write_config(copy_of, "b.yaml", config_b))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]

    stamp = json.loads((copy_of / "results/tables/stamp.json").read_text())
    assert stamp["config_files"] == ["b.yaml"] and stamp["config_digest"] != first["config_digest"]
    aside = copy_of / "results/stale" / f"a-{first['config_digest'][:12]}"
    assert stamp["moved_aside"] == str(Path("results/stale") / aside.name)
    readme = (aside / "README.md").read_text()
    assert "made by config `a.yaml`" in readme and "config `b.yaml`" in readme
    assert json.loads((aside / "stamp.json").read_text())["config_digest"] == first["config_digest"]
    # A's own outputs, none overwritten: the MEX tables it alone makes are there and no longer in results/tables
    for name in MEX_ONLY:
        for ext in ("md", "tex", "csv"):
            assert (aside / "tables" / f"{name}.{ext}").exists()
            assert not (copy_of / "results/tables" / f"{name}.{ext}").exists()
    assert (aside / "tables/mae.md").read_text() == a_mae
    assert (aside / "figures/fig6_lambda_sensitivity.png").exists()
    assert not (copy_of / "results/figures/fig6_lambda_sensitivity.png").exists()

    digest = stamp["config_digest"][:12]
    tables = sorted(p for p in (copy_of / "results/tables").rglob("*") if p.suffix in (".md", ".tex"))
    assert len(tables) > 20
    for table in tables:
        line = stamp_line_of(table.read_text())
        assert re.search(rf"Made by config `b\.yaml` \(config digest {digest}\) with extrapbench "
                         rf"(commit [0-9a-f]{{10}}|outside git)", line), (table, line)
    figures = sorted((copy_of / "results/figures").glob("*.png"))
    assert len(figures) >= 5
    for figure in figures:
        with Image.open(figure) as image:
            assert image.text["extrapbench-config-digest"] == stamp["config_digest"], figure
            assert "Made by config `b.yaml`" in image.text["Description"]
        assert f"extrapbench config digest {stamp['config_digest']}".encode() in figure.with_suffix(
            ".pdf").read_bytes()


# --- the library ---------------------------------------------------------------------------------------------------

def test_run_settings_compare_what_the_config_fixes_not_what_the_selection_chose():
    from extrapbench.report.provenance_check import differences, run_settings

    config = demo_cut()
    base = run_settings(config, "phonons_top", "magpie_mlp", "mex")
    assert "lambda_abs" not in base["methods"]["mex"]  # the grid's key: the chosen point replaces it
    assert base["selection"] == {"seed": 0, "grid": {"lambda_abs": [0.25, 1.0]}}
    assert base["methods"]["mex"]["num_candidates"] == 32 and "score" in base["methods"]["mex"]  # defaults in
    assert base["train"]["max_epochs"] == 2 and base["train"]["ema_decay"] == 0.0
    assert "graph" not in base  # a composition backbone reads no graph

    spelled = demo_cut()
    spelled["methods"]["mex"].update(lambda_abs=0.75, score="mlp")  # a grid key's value, a default spelled out
    spelled["train"]["ema_decay"] = 0.0
    assert differences(base, run_settings(spelled, "phonons_top", "magpie_mlp", "mex")) == []

    changed = demo_cut()
    changed["selection"]["methods"]["mex"]["lambda_abs"] = [0.25, 0.5]
    changed["methods"]["mex"]["train"] = {"max_epochs": 3}  # the method's own training layer
    assert differences(base, run_settings(changed, "phonons_top", "magpie_mlp", "mex")) == [
        ("selection.grid.lambda_abs", [0.25, 1.0], [0.25, 0.5]), ("train.max_epochs", 2, 3)]
    graph = run_settings({**config, "graph": {"cutoff": 6.0, "max_neighbors": 20}}, "phonons_top", "magpie_mlp",
                         "erm", graph_backbones=["magpie_mlp"])
    assert graph["graph"] == {"cutoff": 6.0, "max_neighbors": 20} and "selection" not in graph


def test_a_stale_run_error_keeps_one_console_line_per_run():
    from extrapbench.jobs.logs import console_line
    from extrapbench.report.provenance_check import StaleRun, StaleRunsError

    runs = [StaleRun(f"results/runs/t/b/m/seed{s}", "t", "b", "m", s, "run", (("methods.m.x", 1, 2),))
            for s in (0, 1)]
    line = console_line(StaleRunsError(runs, ["c.yaml"]), "report_stamp", "results/logs/report_stamp.log")
    lines = line.splitlines()
    assert lines[0].startswith("extrapbench: report_stamp failed: StaleRunsError: 2 runs trained with other")
    assert lines[1:3] == ["  results/runs/t/b/m/seed0: methods.m.x 1 → 2",
                          "  results/runs/t/b/m/seed1: methods.m.x 1 → 2"]
    assert lines[-1].endswith("(log: results/logs/report_stamp.log)")


def test_a_job_names_only_the_stale_runs_it_reads():
    from extrapbench.report.provenance_check import StaleRun
    from extrapbench.report.stamp import stale_runs_read

    run = StaleRun(ERM, "phonons_top", "magpie_mlp", "erm", 0, "run", ())
    reference = StaleRun("results/references/phonons_top/edge_train/seed0", "phonons_top", None, "edge_train", 0,
                         "reference", ())
    point = StaleRun(f"{GRID} (p000)", "phonons_top", "magpie_mlp", "mex", None, "grid point", ())
    stale = [run, reference, point]
    assert stale_runs_read(stale, [f"{MEX}/metrics.json"]) == []
    assert stale_runs_read(stale, [f"{ERM}/metrics.json", "results/runs/phonons_top/painn/edge_train/seed0/"
                                                          "metrics.json"]) == [run, reference]
    assert stale_runs_read(stale, ["results/selection/phonons_top/magpie_mlp/mex/selected.json"]) == [point]
    assert stale_runs_read(stale, ["results/tables/summary.csv"]) == stale
    assert stale_runs_read(stale, ["results/splits/phonons_top.json"]) == []


def test_the_same_config_moves_only_what_it_does_not_make(tmp_path):
    from extrapbench.report.stale_outputs import set_aside

    results = tmp_path / "results"
    for name in ("tables/mae.md", "tables/old_table.md", "tables/stamp.json", "figures/fig.png"):
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(name)
    record = {"config_files": ["c.yaml"], "config_digest": "ab" * 32, "made": "now"}
    assert set_aside(results, ["tables/mae.md", "figures/fig.png"], record, record,
                     keep=[results / "tables/stamp.json"]) == str(results / "stale" / f"c-{'ab' * 6}-not-its-outputs")
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()) == [
        "figures/fig.png", f"stale/c-{'ab' * 6}-not-its-outputs/README.md",
        f"stale/c-{'ab' * 6}-not-its-outputs/tables/old_table.md", "tables/mae.md", "tables/stamp.json"]
    assert set_aside(results, ["tables/mae.md", "figures/fig.png"], record, record,
                     keep=[results / "tables/stamp.json"]) is None  # nothing more
    unrecorded = set_aside(results, [], None, record, keep=[results / "tables/stamp.json"])
    assert Path(unrecorded).name.startswith("unrecorded-")
    assert "not recorded" in (Path(unrecorded) / "README.md").read_text()
    assert not (results / "figures").exists() or not any((results / "figures").iterdir())


def test_a_job_writes_its_stamp_and_refuses_a_stamp_of_another_config(tmp_path):
    """extrapbench.report.io inside a rule job (run_rule) with a `report_stamp` input: its Markdown / LaTeX tables
    end with the stamp; a job whose config is not the stamp's stops."""
    from conftest import FakeSnakemake
    from extrapbench.jobs.rule import run_rule
    from extrapbench.report.io import write_text
    from extrapbench.report.stamp import config_digest

    config = demo_cut()
    stamp = tmp_path / "results/tables/stamp.json"
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps({"config_files": ["a.yaml"], "config_digest": config_digest(config),
                                 "stale_runs": []}))

    def main(snakemake):
        write_text(snakemake.output.md, "| a |\n|---|\n| 1 |\n\n- a note\n")
        write_text(snakemake.output.tex, "\\begin{tabular}{l}\n\\end{tabular}\n")

    job = FakeSnakemake(input={"report_stamp": str(stamp)}, output={"md": str(tmp_path / "t.md"),
                                                                  "tex": str(tmp_path / "t.tex")},
                        log=tmp_path / "t.log")
    job.config = config
    run_rule(main, job)
    markdown = (tmp_path / "t.md").read_text().splitlines()
    assert markdown[-2] == "- a note" and markdown[-1].startswith(
        f"- Made by config `a.yaml` (config digest {config_digest(config)[:12]}) with extrapbench ")
    assert (tmp_path / "t.tex").read_text().splitlines()[-1].startswith("% Made by config `a.yaml`")

    other = FakeSnakemake(input={"report_stamp": str(stamp)}, output={"md": str(tmp_path / "t.md"),
                                                                    "tex": str(tmp_path / "t.tex")},
                          log=tmp_path / "t.log")
    other.config = edited()
    with pytest.raises(ValueError, match=r"stamp.json is the stamp of config `a.yaml` .* run the rule report_stamp"):
        run_rule(main, other)
