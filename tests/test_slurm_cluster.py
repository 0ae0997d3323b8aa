"""The workflow through profiles/slurm on a real single-node SLURM cluster on this machine (scripts/slurm/cluster.sh).

Opt-in: these tests are marked `slurm` and run only with EXTRAPBENCH_TEST_SLURM=1; without it (`make test`, a plain
`pytest tests`) they are skipped. Run them with `make test-slurm`, i.e.

    EXTRAPBENCH_TEST_SLURM=1 .venv/bin/python -m pytest -q -s -m slurm tests/test_slurm_cluster.py

(-s shows their progress and summaries; `-k cancel` / `-k node_failure` runs one scenario). They need root on a
Debian/Ubuntu machine: a session fixture runs `cluster.sh start` unless the cluster already runs (installing
slurm-wlm, slurmdbd, munge and mariadb-server through apt if missing) and `cluster.sh stop` at the end if it
started it. Each test asserts on `sacct` records of its jobs (parsed in slurm_helpers.sacct) and on what the
workflow wrote in its working directory; the working directories and --verbose Snakemake logs stay in
$EXTRAPBENCH_SLURM_DIR/tests/ (default /tmp/extrapbench-slurm/tests/) until the next session.

* the small grid: config/demo.yaml cut to one task, one seed, ERM and MEX (with MEX's λ selection grid), 5 epochs,
  to completion: every job that is not a localrule is one COMPLETED SLURM job on the node (training, featurize /
  graph and reference-predictor rules only), downloads run here, no job asks for a GPU, tables and figures exist
  and a dry run has nothing left to do; its CPU-backbone training job asks for the cpu partition and no GPU
* a running training job cancelled with scancel: Snakemake fails it within EXTRAPBENCH_CANCEL_DEADLINE seconds
  (default 120) naming the SLURM state ("CANCELLED by <uid>"), prints its log in under 50 lines, and a rerun
  resumes from the checkpoint
* the node of a running training job set DOWN: the job ends NODE_FAIL, its retry is submitted without --exclude
  (the only node of the partition), runs once the node is back and resumes from the checkpoint
* a GPU-backbone (PaiNN) training job asks for --gpus=1 on the gpu partition and gets gres/gpu=1; its build_graphs
  job asks for no GPU
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

import slurm_helpers as slurm
from conftest import REPO

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("EXTRAPBENCH_TEST_SLURM") != "1",
                       reason="a real SLURM cluster on this machine: opt-in, make test-slurm or "
                              "EXTRAPBENCH_TEST_SLURM=1"),
]

# seconds from the scancel until Snakemake must have reported the failure. The plugin waits 10 s longer after each
# status check that sees no job finish (at most 180 s); the scancel comes within about a minute of the submission,
# so the next check, which must report the failure, comes well within this.
CANCEL_DEADLINE = float(os.environ.get("EXTRAPBENCH_CANCEL_DEADLINE", "120"))
# the rules submitted through sbatch; every other rule of the workflow is a localrule (workflow/rules/*.smk).
# predict_reference fits a random forest or ridge per task and seed: minutes on the largest dataset, so not local.
SUBMITTED_RULES = {"train", "train_grid_point", "train_seeds", "featurize_magpie", "build_graphs", "predict_reference"}
GRID_OUTPUTS = ["results/tables/summary.csv", "results/tables/mae.md", "results/figures/fig5_detection_recall.png",
                "results/figures/fig4_parity_phonons_top.png", "results/figures/fig3_label_distributions.pdf"]


# ---------------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------------
class Cluster:
    def __init__(self, node: str, started_here: bool):
        self.node, self.started_here = node, started_here


@pytest.fixture(scope="session")
def cluster():
    """The cluster of scripts/slurm/cluster.sh, started unless it runs (and then stopped at the end), with
    SLURM_CONF set for sbatch/squeue/sacct here and in every snakemake these tests start."""
    started_here = False
    if slurm.cluster_sh("status", timeout=60).returncode != 0:
        slurm.log("starting the cluster: scripts/slurm/cluster.sh start (installs SLURM through apt if missing)")
        t0 = time.monotonic()
        # its output goes to the console (-s) or pytest's capture; on failure it stops what it started itself
        started = subprocess.run(["bash", str(slurm.CLUSTER_SH), "start"], timeout=3600)
        assert started.returncode == 0, "scripts/slurm/cluster.sh start failed (its output above)"
        started_here = True
        slurm.log(f"cluster started in {time.monotonic() - t0:.0f} s")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", slurm.slurm_conf())
        try:
            yield Cluster(slurm.node_name(), started_here)
        finally:
            if started_here:
                slurm.log("stopping the cluster this session started: scripts/slurm/cluster.sh stop")
                subprocess.run(["bash", str(slurm.CLUSTER_SH), "stop"], timeout=600)


@pytest.fixture(scope="session")
def snakemake(cluster):
    """The venv's snakemake, its SLURM plugin patched: without the patch the scancel test would only fail after its
    deadline, so say why at once."""
    version = subprocess.run([str(slurm.SNAKEMAKE), "--version"], capture_output=True, text=True)
    assert version.returncode == 0, f"no snakemake at {slurm.SNAKEMAKE}: {version.stderr}"
    check = subprocess.run(["bash", str(REPO / "scripts" / "slurm" / "patch_plugin.sh"), "--check",
                            str(slurm.SNAKEMAKE.parent / "python")], capture_output=True, text=True)
    assert check.returncode == 0, f"the SLURM plugin patch is not applied (make setup): {check.stderr}"
    return slurm.SNAKEMAKE


@pytest.fixture(scope="session")
def workspace(cluster):
    """The tests' working directories, one per scenario, under the cluster's state directory (cluster.sh's
    EXTRAPBENCH_SLURM_DIR, default /tmp/extrapbench-slurm) in tests/: emptied when a session starts, kept after it
    for inspection. Not pytest's tmp_path: a concurrent pytest session of the same user prunes older numbered
    temporary directories, possibly while a job of this session still runs in one."""
    root = Path(os.environ["SLURM_CONF"]).parent.parent / "tests"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    slurm.log(f"working directories and logs under {root}")
    return root


class Grid:
    def __init__(self, workdir, args, log_file, seconds):
        self.workdir, self.args, self.log_file, self.seconds = workdir, args, log_file, seconds
        self.text = slurm.read_log(log_file)


@pytest.fixture(scope="module")
def small_grid(snakemake, workspace):
    """The embedded default (config/demo.yaml) cut down to one task, one seed, ERM and MEX (with MEX's λ selection
    grid) and 5 epochs, run through profiles/slurm to completion: every rule of the demo's DAG still runs (the
    non-local ones as SLURM jobs), with 4 training jobs instead of the whole demo's ~70."""
    out = workspace / "grid"
    out.mkdir()
    workdir = out / "work"
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["tasks"] = config["tasks"][-1:]
    config["seeds"] = config["seeds"][:1]
    config["methods"] = {name: entry for name, entry in config["methods"].items() if name in ("erm", "mex")}
    assert set(config["methods"]) == {"erm", "mex"}, "config/demo.yaml lost its erm or mex entry"
    config["train"]["max_epochs"] = 5
    # a cluster's layout, as config/config.yaml: one train job per run (the demo packs its seeds into train_seeds)
    config["resources"]["seeds_in_one_job"] = False
    (out / "small.yaml").write_text(yaml.safe_dump(config))
    # data_home: the shipped data
    args = slurm.workflow_args(workdir, out / "small.yaml", "--config", f"data_home={REPO / 'data' / 'matminer'}")
    slurm.log(f"the small grid ({out / 'small.yaml'}) through profiles/slurm in {workdir}")
    t0 = time.monotonic()
    done = slurm.run_snakemake([*args, "--verbose"], out / "grid.log")
    seconds = time.monotonic() - t0
    assert done.returncode == 0, f"the small grid failed through SLURM; {slurm.failure_tail(out / 'grid.log')}"
    slurm.log(f"small grid through SLURM: {seconds:.0f} s wall")
    return Grid(workdir, args, out / "grid.log", seconds)


@pytest.fixture(scope="module")
def upstream(request, snakemake, workspace):
    """A working directory with phonons_top's dataset table, Magpie features and split: the small grid's when its
    test runs in this session, else made through SLURM here (when only other scenarios are selected)."""
    if any(item.name == "test_small_grid_runs_to_completion_through_the_profile" for item in request.session.items):
        return request.getfixturevalue("small_grid").workdir
    workdir = workspace / "upstream"
    workdir.mkdir()
    slurm.write_training_config(workdir / "config.yaml", retries=0)
    args = slurm.workflow_args(workdir, workdir / "config.yaml")
    made = slurm.run_snakemake([f"{slurm.ERM_RUN}/predictions.csv", *args, "--omit-from", "train"],
                               workdir / "upstream.log")
    assert made.returncode == 0, f"the upstream jobs failed; {slurm.failure_tail(workdir / 'upstream.log', 30)}"
    return workdir


# ---------------------------------------------------------------------------------------------------------------
# the scenarios
# ---------------------------------------------------------------------------------------------------------------
def test_small_grid_runs_to_completion_through_the_profile(cluster, small_grid):
    text = small_grid.text
    run_id = slurm.run_id(text)
    stats = slurm.job_stats(text)
    submitted = slurm.submitted_rules(text)
    assert run_id, "no 'SLURM run ID' in the log"
    assert stats.get("total"), f"no job stats in the log: {stats}"
    # the localrules (downloads, splits, evaluation, selection, tables, figures) ran here, on the "login node"
    assert stats.get("download_dataset", 0) >= 1
    assert not slurm.sbatch_calls(text, "rule_download_dataset")
    # only the training, featurize / graph and reference-predictor rules are submitted
    assert len(submitted) >= 3
    assert set(submitted) <= SUBMITTED_RULES, f"submitted rules outside {SUBMITTED_RULES}: {set(submitted)}"
    assert "predict_reference" in submitted

    # every submitted job is one completed SLURM job of this run, on the node, on the cpu partition, no GPU asked
    jobs = slurm.sacct_run(run_id)
    assert sorted(job.job_id for job in jobs) == sorted(slurm.submitted_job_ids(text))
    assert len(jobs) == len(submitted)
    not_completed = [job for job in jobs if job.state != "COMPLETED" or job.exit_code != "0:0"]
    assert not not_completed, f"jobs that did not complete: {not_completed}"
    assert {job.node_list for job in jobs} == {cluster.node}
    assert {job.partition for job in jobs} == {"cpu"}
    assert not [job for job in jobs if any(tres.startswith("gres/gpu") for tres in job.req_tres)]

    # complete and up to date: tables and figures there, nothing left to do (mtime only: the code and params
    # triggers would also fire if someone edits a rule file while this runs)
    for output in GRID_OUTPUTS:
        path = small_grid.workdir / output
        assert path.is_file() and path.stat().st_size > 0, f"{output} missing or empty"
    dry_log = small_grid.log_file.with_name("grid-dryrun.log")
    dry = slurm.run_snakemake([*small_grid.args, "-n", "--rerun-triggers", "mtime"], dry_log, timeout=600)
    assert dry.returncode == 0 and "Nothing to be done" in slurm.read_log(dry_log), slurm.failure_tail(dry_log)

    counts = {rule: submitted.count(rule) for rule in sorted(set(submitted))}
    slurm.log(f"small grid: {small_grid.seconds:.0f} s wall, {len(jobs)} SLURM jobs of run {run_id} all COMPLETED "
              f"({counts}) of {stats['total']} jobs, the rest local ({stats['download_dataset']} download_dataset "
              f"among them); results in {small_grid.workdir}")


def test_cpu_backbone_training_job_asks_for_the_cpu_partition_and_no_gpu(small_grid):
    calls = slurm.sbatch_calls(small_grid.text, "rule_train_wildcards_")
    assert calls, "no sbatch call of a train job in the small grid's log"
    assert re.search(r"(^| )-p cpu( |$)", calls[0]), calls[0]
    assert "--gpus" not in calls[0] and "--gres" not in calls[0], calls[0]
    slurm.log(f"CPU-backbone training job, its sbatch line (without --wrap): {calls[0]}")


def test_scancel_of_a_running_training_job_reports_its_slurm_state_and_a_rerun_resumes(cluster, upstream,
                                                                                        workspace):
    out = workspace / "cancel"
    out.mkdir()
    # retries: 0, so that the failure must surface (with the default 1, Snakemake resubmits the cancelled job at
    # once, and that attempt resumes from the checkpoint as the rerun below does)
    slurm.log(f"cancelled job: one ERM training job through profiles/slurm in {out}, scancel'd once it has "
              f"checkpointed")
    job = slurm.start_training_job(out / "work", upstream, retries=0, log_file=out / "cancel.log")
    try:
        assert slurm.squeue_state(job.job_id) == "RUNNING"
        subprocess.run(["scancel", job.job_id], check=True)
        t0 = time.monotonic()
        try:
            rc = job.process.wait(CANCEL_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scancel of running job {job.job_id}: snakemake still waits after {CANCEL_DEADLINE:.0f} s "
                        f"(its status loop did not see the cancelled state: is "
                        f"scripts/slurm/snakemake-executor-plugin-slurm-2.8.0.patch applied?)")
        seconds = time.monotonic() - t0
    finally:
        slurm.stop_snakemake(job.process)
    text = slurm.read_log(job.log_file)
    assert rc != 0, "snakemake succeeded although its only job was cancelled"
    messages = [line for line in text.split("\n") if f"SLURM-job '{job.job_id}' failed" in line]
    assert messages, f"no failure message for job {job.job_id}; {slurm.failure_tail(job.log_file)}"
    state = f"SLURM status is: 'CANCELLED by {os.getuid()}'"
    assert state in messages[0], messages[0]
    assert not (job.run_dir / "predictions.csv").exists()
    # show-failed-logs printed the job's log: a few lines, not one per progress-bar redraw (the training log keeps
    # tqdm's '\r' redraws out of the log)
    shown = slurm.shown_log_lines(text)
    assert shown is not None and 0 < shown < 50, f"the failed job's log shown in {shown} lines"
    assert b"\r" not in (job.workdir / slurm.ERM_LOG).read_bytes()
    record = slurm.sacct_job(job.job_id)
    assert record.state == f"CANCELLED by {os.getuid()}" and record.node_list == cluster.node, record
    epochs = slurm.checkpointed_epochs(job.run_dir)

    rerun_log = out / "cancel-rerun.log"
    rerun = slurm.run_snakemake([f"{slurm.ERM_RUN}/predictions.csv", *job.args, "--verbose"], rerun_log)
    assert rerun.returncode == 0, f"the rerun after the scancel failed; {slurm.failure_tail(rerun_log, 30)}"
    resumed = slurm.resumed_from_epoch(job.run_dir)
    assert resumed > 0 and resumed >= epochs, \
        f"resumed at epoch {resumed}, {epochs} epochs were checkpointed{slurm.why_not_resumed(job.workdir)}"
    (retrained,) = slurm.submitted_job_ids(slurm.read_log(rerun_log), "train")
    assert slurm.sacct_job(retrained).state == "COMPLETED"
    slurm.log(f"cancelled job: job {job.job_id} cancelled after {epochs} epochs; snakemake reported it "
              f"{seconds:.0f} s after the scancel ({state}), its log shown in {shown} lines; the rerun (job "
              f"{retrained}) resumed at epoch {resumed}")


def test_node_failure_retry_runs_without_exclude_and_resumes(cluster, upstream, workspace):
    """The plugin records a NODE_FAIL job's node and excludes it from later submissions (sbatch --exclude); where it
    is the only node of the partition, sbatch refused the retry at once ("Requested node configuration is not
    available"); patched, the retry is submitted without the exclusion, runs once the node is back and resumes."""
    out = workspace / "node-fail"
    out.mkdir()
    slurm.log(f"node failure: one ERM training job (retries: 1) in {out}; its node {cluster.node} set DOWN "
              f"once it has checkpointed")
    job = slurm.start_training_job(out / "work", upstream, retries=1, log_file=out / "nodefail.log")
    try:
        try:
            downed = slurm.set_node("DOWN", reason="extrapbench-test")
            assert downed.returncode == 0, f"scontrol update State=DOWN: {downed.stderr}"
            slurm.wait_until(lambda: slurm.sacct_job(job.job_id).base_state == "NODE_FAIL", 60,
                             f"job {job.job_id} ending in NODE_FAIL after its node was set DOWN")
        finally:
            # the node comes back (ReturnToService=2 may have returned it already: then RESUME is refused)
            slurm.set_node("RESUME")
        slurm.wait_until(slurm.node_usable, 60, "the node back after its failure")
        try:
            rc = job.process.wait(300)
        except subprocess.TimeoutExpired:
            pytest.fail("the retry after NODE_FAIL did not end within 300 s")
    finally:
        slurm.stop_snakemake(job.process)
    text = slurm.read_log(job.log_file)
    calls = slurm.sbatch_calls(text, "rule_train_")
    assert f"SLURM-job '{job.job_id}' failed due to a node failure" in text
    assert rc == 0, f"snakemake exited with {rc}; {slurm.failure_tail(job.log_file)}"
    assert len(calls) == 2, calls
    assert not [call for call in calls if "--exclude" in call], calls
    assert f"Every node of partition cpu failed earlier in this run ({cluster.node})" in text
    first, retry = slurm.submitted_job_ids(text, "train")
    assert first == job.job_id
    assert slurm.sacct_job(first).base_state == "NODE_FAIL"
    retried = slurm.sacct_job(retry)
    assert retried.state == "COMPLETED" and retried.exit_code == "0:0" and retried.node_list == cluster.node, retried
    resumed = slurm.resumed_from_epoch(job.run_dir)
    assert resumed > 0, f"the retry started over{slurm.why_not_resumed(job.workdir)}"
    slurm.log(f"node failure: job {first} ended NODE_FAIL on the only node, {cluster.node}; the retry (job {retry}) "
              f"was submitted without --exclude and resumed at epoch {resumed}; its training sbatch lines:\n    "
              + "\n    ".join(calls))


def test_gpu_backbone_training_job_asks_for_the_gpu(upstream, workspace):
    """A tiny PaiNN run on the demo's dataset table and split: the node declares one stub GPU (cluster.sh)."""
    out = workspace / "gpu"
    out.mkdir()
    workdir = out / "work"
    slurm.copy_upstream(upstream, workdir, "datasets", "splits")
    config = {
        "data_home": str(REPO / "data" / "matminer"),
        "tasks": ["phonons_top"],
        "backbones": {"painn": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8}},
        "methods": {"erm": {}},
        "seeds": [0],
        "train": {"max_epochs": 1, "batch_size": 64},
        "resources": {"train_threads": 1},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    log_file = out / "gpu.log"
    slurm.log(f"one PaiNN (GPU backbone) training job through profiles/slurm in {workdir}")
    done = slurm.run_snakemake(["results/runs/phonons_top/painn/erm/seed0/predictions.csv",
                                *slurm.workflow_args(workdir, workdir / "config.yaml"), "--verbose"], log_file)
    assert done.returncode == 0, f"the GPU-backbone job failed through SLURM; {slurm.failure_tail(log_file)}"
    text = slurm.read_log(log_file)
    train_calls = slurm.sbatch_calls(text, "rule_train_")
    assert train_calls, "no sbatch call of the train job"
    assert "--gpus=1" in train_calls[0] and re.search(r"(^| )-p gpu( |$)", train_calls[0]), train_calls[0]
    # the build_graphs job of the same run asks for no GPU
    graph_calls = slurm.sbatch_calls(text, "rule_build_graphs")
    assert graph_calls and not [call for call in graph_calls if "--gpus" in call], graph_calls
    (train_id,) = slurm.submitted_job_ids(text, "train")
    train = slurm.sacct_job(train_id)
    assert train.partition == "gpu" and train.state == "COMPLETED", train
    assert "gres/gpu=1" in train.req_tres and "gres/gpu=1" in train.alloc_tres, train
    others = [job for job in slurm.sacct_run(slurm.run_id(text)) if job.job_id != train_id]
    assert others and not [job for job in others if any(t.startswith("gres/gpu") for t in job.req_tres)], others
    slurm.log(f"GPU-backbone training job {train_id}, its sbatch line (without --wrap): {train_calls[0]}\n"
              f"    sacct: {train}")
