"""The benchmark scripts run on the shipped data and print the figures they promise.

They measure speed and are read by people (README, benchmarks/NOTES.md); nothing here times anything. This only
keeps them from rotting as the library changes: every method and backbone they time must still build and step.
"""
import json
import subprocess
import sys

from conftest import REPO


def run_script(*args):
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_method_step_time_reports_each_method_with_its_ratio_to_erm():
    methods = ["erm", "ranksim", "conr", "mex"]
    out = run_script("benchmarks/method_step_time.py", "--backbones", "magpie_mlp", "--methods", *methods,
                     "--rounds", "1", "--steps", "2", "--warmup", "0", "--batch-size", "16")
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in methods:
            rows[parts[0]] = (float(parts[1]), float(parts[2]))
    assert list(rows) == methods
    assert rows["erm"][1] == 1.0
    for seconds, ratio in rows.values():
        assert seconds > 0 and ratio > 0
    assert "ms/material" in [line for line in out.splitlines() if line.startswith("mex")][0]


def test_backbone_step_time_measures_painn_on_real_structures():
    out = run_script("benchmarks/backbone_step_time.py", "--backbones", "painn", "--steps", "1", "--warmup", "0",
                     "--batch-size", "4", "--json")
    record = json.loads(out.strip().splitlines()[-1])
    assert record["backbone"] == "painn"
    assert record["atoms"] > 4 and record["edges"] > 0 and record["parameters"] > 0
    assert record["median_step_wall_seconds"] > 0


def test_backbone_step_time_times_both_flush_settings_on_the_graphs_asked_for():
    out = run_script("benchmarks/backbone_step_time.py", "--backbones", "schnet", "--steps", "1", "--warmup", "0",
                     "--batch-size", "4", "--cutoff", "12", "--max-neighbors", "20", "--flush-denormal", "both",
                     "--json")
    records = [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]
    assert [r["flush_denormal"] for r in records] == [False, True]
    assert all(r["hparams"]["cutoff"] == 12.0 and r["hparams"]["max_neighbors"] == 20 for r in records)


def test_snapshot_tables_copies_the_tables_and_says_which_code_made_them(tmp_path):
    import subprocess as sp

    sys.path.insert(0, str(REPO / "benchmarks"))
    from snapshot_tables import code_digest_of_commit

    from extrapbench.provenance import code_digest

    head_digest = code_digest_of_commit("HEAD")
    package_changed = sp.run(["git", "status", "--porcelain", "--", "extrapbench"], cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
    if not package_changed:  # a clean package: the archived commit's digest is the one every run records
        assert head_digest == code_digest()
    results = tmp_path / "results"
    (results / "tables").mkdir(parents=True)
    (results / "tables/mae.md").write_text("| a |\n")
    run_dir = results / "runs/phonons_top/schnet/erm/seed0"
    run_dir.mkdir(parents=True)
    record = {"epochs_run": 7, "train_time_s": 3600.0, "git": {"commit": "abc123", "dirty": True},
              "code_sha256": head_digest, "device": "cpu: x86_64, 1 threads", "versions": {"torch": "2.13.0"}}
    (run_dir / "provenance.json").write_text(json.dumps(record))
    out_dir = tmp_path / "snapshot"
    run_script("benchmarks/snapshot_tables.py", "--config", "config/cpu_gnn_schnet.yaml", "--results", str(results),
               "--out", str(out_dir), "--check-commit", "HEAD")
    assert (out_dir / "mae.md").read_text() == "| a |\n"
    text = (out_dir / "PROVENANCE.md").read_text()
    assert "`abc123 (dirty tree)`: 1 run(s)" in text and "1.00 h of training" in text
    assert f"has the code digest `{head_digest}`: 1 of 1 runs match it" in text


def test_gpu_check_runs_tiny_on_cpu_and_projects_the_paper_grid():
    out = run_script("benchmarks/gpu_check.py", "--tiny", "--epochs", "2")
    lines = out.splitlines()
    for method in ("erm", "mex"):
        line = next(line for line in lines if line.startswith(f"{method}:"))
        assert float(line.split()[1]) > 0 and "s/epoch" in line and "AMP active False" in line
    val_lines = [line for line in lines if "val MAE per epoch" in line]
    assert len(val_lines) == 2 and all(len(line.split(":")[1].split(",")) == 2 for line in val_lines)
    total = next(line for line in lines if line.startswith("projected paper grid"))
    assert float(total.split()[3]) > 0
    assert sum(line.startswith(("  formation", "  shear", "  refractive", "  phonons")) for line in lines) == 7


def test_collation_share_reports_a_share_per_batch_size():
    out = run_script("benchmarks/collation_share.py", "--batch-sizes", "4", "--batches", "1", "--warmup", "0",
                     "--structures", "16")
    row = out.strip().splitlines()[-1].split()
    assert row[0] == "4" and 0 < float(row[-1].rstrip("%")) < 100


def test_mex_inference_cost_reports_both_scorings_against_erm():
    out = run_script("benchmarks/workflow_cost.py", "mex", "--backbones", "magpie_mlp", "--batch", "8",
                     "--repeat", "2", "--threads", "1")
    ratios = {}
    for line in out.splitlines():
        if line.startswith("magpie_mlp"):
            label = line.split("ms/sample, ")[1].split()[0]
            ratios[label] = float(line.split("iterations): ")[1].split("x")[0])
    assert set(ratios) == {"mex", "mex_direct"}
    assert all(ratio > 1 for ratio in ratios.values())   # a search of 2,000 candidates costs more than a forward
