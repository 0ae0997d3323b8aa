"""The documented commands for partial reruns and for SLURM, on a tiny workflow in a temporary directory.

* `make rerun-method METHOD=... CONFIG=...` retrains exactly that method's runs (and its selection grid points)
  and rebuilds the tables and the figures that depend on runs; no other method's file changes (mtimes compared).
* `make figures CONFIG=...` rebuilds tables and figures and never trains; with a run missing it fails, clearly.
* both also plan correctly with PROFILE=profiles/slurm (dry-run), and through profiles/slurm a GPU-backbone
  training job's sbatch line asks for the GPU (--gpus=1, gpu partition) while CPU jobs ask for none. That last
  check runs the real executor plugin against stand-in sbatch/squeue/sacct/... programs that record the command
  line and refuse the job; `make test-slurm` runs the workflow on a real SLURM cluster.
* against the same stand-ins: cancelled ("CANCELLED by <uid>"), preempted, timed-out, out-of-memory and node-failed
  jobs fail at the first status check, each with its SLURM state (the plugin patch of `make setup`), the account
  guess works, every job is submitted with --no-requeue; the profile's commented GPU-model and --gres examples
  reach exactly the GPU-backbone training jobs; downloads run locally, never through sbatch.

The make targets run with BIN= this interpreter's bin directory and STAMP= (no .venv needed), and SMK_ARGS pointing
snakemake at the temporary working directory.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHIPPED_DATA_HOME

SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = Path(sys.executable).parent
# one task, one seed, two methods: as small as a real run of every rule gets
TINY = {
    "data_home": str(SHIPPED_DATA_HOME),
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
    "methods": {"erm": {}, "mex": {"num_noise_labels": 8, "num_candidates": 32, "search_iterations": 2,
                                   "score_hidden_dim": 8}},
    "seeds": [0],
    "train": {"max_epochs": 1, "early_stopping_patience": 5, "batch_size": 128, "learning_rate": 1e-3},
    "resources": {"train_threads": 1},
}
RUN_FILES = ("predictions.csv", "history.csv", "model.pt", "provenance.json", "metrics.json")


def dataset_table(dataset: str) -> str:
    """download_dataset's output for one dataset, below results/ (its file name as workflow/rules/download.smk
    declares it, so the stand-in inputs below follow a change of format)."""
    match = re.search(r'"results/(datasets/\{dataset\}[^"]*)"', (REPO / "workflow/rules/download.smk").read_text())
    assert match, "no results/datasets/{dataset}... output in workflow/rules/download.smk"
    return match.group(1).format(dataset=dataset)


def make(target, workdir, *variables, smk_args="", timeout=600):
    """`make -C REPO target` with the workflow pointed at workdir (its config.yaml)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), target, f"BIN={BIN}", "STAMP=",
         f"CONFIG={workdir / 'config.yaml'}", f"SMK_ARGS=-s {SNAKEFILE} --directory {workdir} {smk_args}",
         *variables],
        capture_output=True, text=True, timeout=timeout)


def makefile_list(name):
    match = re.search(rf"^{name} := ((?:.*\\\n)*.*)$", (REPO / "Makefile").read_text(), re.M)
    assert match, f"no {name} in the Makefile"
    return match.group(1).replace("\\\n", " ").split()


def mtimes(workdir):
    return {p.relative_to(workdir): p.stat().st_mtime_ns for p in sorted(workdir.glob("results/**/*"))
            if p.is_file()}


def changed_between(before, after):
    return {path for path in before if after.get(path) != before[path]}


def job_counts(output):
    """Snakemake's 'Job stats' table -> {rule: count}."""
    counts = {}
    for match in re.finditer(r"^([a-z_]+)\s+(\d+)$", output, re.M):
        counts.setdefault(match.group(1), int(match.group(2)))
    return counts


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster_commands")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(SNAKEFILE),
                             "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_every_rule_is_classified_for_the_make_targets():
    """A new rule must be put in the Makefile's REPORT_RULES (figures regenerates it) or be known here."""
    from test_envs import rules  # the rule files' rules (checked against `snakemake --list-rules` there)

    upstream = {"all", "download_dataset", "import_dataset", "featurize_magpie", "build_graphs", "split_task",
                "select_hyperparameters"}
    classified = (set(makefile_list("TRAIN_RULES")) | set(makefile_list("EVALUATE_RULES"))
                  | set(makefile_list("REPORT_RULES")) | upstream)
    assert set(rules()) == classified, f"unclassified: {set(rules()) - classified}, gone: {classified - set(rules())}"


SUMMARY = """output_file\tdate\trule\tlog-file(s)\tstatus\tplan
results/splits/t1.json\t-\tsplit_task\t-\tok\tno update
{rows}results/tables/summary.csv\t-\taggregate_tables\t-\tok\tno update
"""


def summary_rows():
    rows = []
    for task in ("t1", "t2"):
        for method in ("erm", "mex", "mex_cos"):
            for seed in (0, 1, 12):
                for name in ("predictions.csv", "history.csv", "model.pt", "provenance.json"):
                    rows.append(f"results/runs/{task}/painn/{method}/seed{seed}/{name}\t-\ttrain\t-\tok\tno update")
                rows.append(f"results/runs/{task}/painn/{method}/seed{seed}/metrics.json\t-\tevaluate_runs\t-\tok\t-")
        for point in ("p000", "p001"):
            rows.append(f"results/selection/{task}/painn/mex/{point}/model.pt\t-\ttrain_grid_point\t-\tok\t-")
            rows.append(f"results/selection/{task}/painn/mex/{point}/predictions.csv\t-\ttrain_grid_point\t-\tok\t-")
    return "".join(row + "\n" for row in rows)


def test_method_runs_lists_one_output_per_training_job_of_the_method():
    """scripts/slurm/method_runs.py on `snakemake --summary` output: every task, backbone, seed and grid point of
    the method, one output per job, no other method's (mex_cos is not mex), nothing but training rules."""
    helper = [sys.executable, str(REPO / "scripts" / "slurm" / "method_runs.py")]
    summary = SUMMARY.format(rows=summary_rows())
    mex = subprocess.run(helper + ["mex"], input=summary, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(mex) == sorted(
        [f"results/runs/{t}/painn/mex/seed{s}/predictions.csv" for t in ("t1", "t2") for s in (0, 1, 12)]
        + [f"results/selection/{t}/painn/mex/{p}/model.pt" for t in ("t1", "t2") for p in ("p000", "p001")])
    erm = subprocess.run(helper + ["erm", "train"], input=summary, capture_output=True, text=True, check=True)
    assert len(erm.stdout.split()) == 6 and all("/erm/" in line for line in erm.stdout.split())
    unknown = subprocess.run(helper + ["no_such_method"], input=summary, capture_output=True, text=True)
    assert unknown.returncode == 2 and not unknown.stdout and "erm, mex, mex_cos" in unknown.stderr


def test_rerun_method_retrains_only_that_method(finished):
    before = mtimes(finished)
    result = make("rerun-method", finished, "METHOD=erm", "PROFILE=profiles/local")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    changed = changed_between(before, mtimes(finished))
    erm = Path("results/runs/phonons_top/magpie_mlp/erm/seed0")
    assert {erm / name for name in RUN_FILES} <= changed  # retrained and re-evaluated
    assert not {p for p in changed if "mex" in p.parts}  # MEX's runs untouched
    # tables and the figures built from runs rebuilt; nothing upstream of training touched
    for table in ("summary.csv", "mae.md", "statistics.md", "running_time.csv"):
        assert Path("results/tables", table) in changed
    for figure in ("fig4_parity_phonons_top", "fig5_detection_recall", "critical_difference"):
        assert Path(f"results/figures/{figure}.png") in changed
    assert not {p for p in changed if p.parts[1] in ("datasets", "features", "splits")}
    # ERM's run of the task and of its random twin (the in-distribution reference trains ERM)
    assert job_counts(output)["train"] == 2
    assert Path("results/runs/phonons_top_random/magpie_mlp/erm/seed0/metrics.json") in changed
    assert f"--profile '{REPO / 'profiles' / 'local'}' " in result.stdout  # made absolute, quoted, by the Makefile


def test_rerun_method_plans_the_same_through_the_slurm_profile(finished):
    result = make("rerun-method", finished, "METHOD=mex", "PROFILE=profiles/slurm", smk_args="-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert f"--profile '{REPO / 'profiles' / 'slurm'}' " in result.stdout
    assert job_counts(output)["train"] == 1
    assert set(re.findall(r"wildcards: task=\w+, backbone=\w+, method=([\w+-]+)", output)) == {"mex"}


def test_rerun_method_forces_the_train_seeds_job_of_a_packed_config(finished, tmp_path):
    """resources.seeds_in_one_job: the method's runs are forced through its one train_seeds job per (task,
    backbone, method), no other method's."""
    workdir = tmp_path / "packed"
    shutil.copytree(finished, workdir, symlinks=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump({**TINY, "resources": {**TINY["resources"],
                                                                                "seeds_in_one_job": True}}))
    result = make("rerun-method", workdir, "METHOD=mex", "PROFILE=profiles/local", smk_args="-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    counts = job_counts(output)
    assert counts["train_seeds"] == 1 and "train" not in counts, counts
    assert set(re.findall(r"wildcards: task=\w+, backbone=\w+, method=([\w+-]+)", output)) == {"mex"}
    assert "results/runs/phonons_top/magpie_mlp/mex/seed0/predictions.csv" in result.stdout  # --forcerun's list


def test_method_runs_lists_train_seeds_outputs_of_the_method():
    """A train_seeds job's outputs lie in one folder per seed: every one of them forces the same job."""
    helper = [sys.executable, str(REPO / "scripts" / "slurm" / "method_runs.py")]
    rows = "".join(f"results/runs/t1/magpie_mlp/{method}/seed{seed}/{name}\t-\ttrain_seeds\t-\tok\t-\n"
                   for method in ("erm", "mex") for seed in (0, 1) for name in ("predictions.csv", "model.pt"))
    found = subprocess.run(helper + ["mex"], input=SUMMARY.format(rows=rows), capture_output=True, text=True,
                           check=True).stdout.split()
    assert found == [f"results/runs/t1/magpie_mlp/mex/seed{seed}/predictions.csv" for seed in (0, 1)]


def test_figures_rebuild_tables_and_figures_without_training(finished):
    before = mtimes(finished)
    result = make("figures", finished)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    changed = changed_between(before, mtimes(finished))
    assert not {p for p in changed if p.parts[1] == "runs"}  # no run file, metrics included
    assert {p for p in before if p.parts[1] in ("tables", "figures")} <= changed
    counts = job_counts(output)
    assert not {"train", "train_seeds", "train_grid_point", "evaluate_runs", "evaluate_grid_point"} & set(counts)
    assert counts["aggregate_tables"] == 1 and "rule train" not in output
    # report rules outside this config's DAG are not forced into existence
    assert "aggregate_other_split_tasks" not in counts
    assert not (finished / "results/tables/other_split_tasks").exists()


def test_figures_fail_clearly_when_a_run_is_missing(finished, tmp_path):
    workdir = tmp_path / "incomplete"
    shutil.copytree(finished, workdir, symlinks=True)
    run = workdir / "results/runs/phonons_top/magpie_mlp/mex/seed0"
    (run / "predictions.csv").unlink()
    (run / "metrics.json").unlink()
    result = make("figures", workdir, "PROFILE=profiles/slurm", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "MissingInputException" in output and "mex/seed0/predictions.csv" in output
    assert "make figures: failed" in output and "It never trains" in output
    assert not (run / "predictions.csv").exists()


# ---------------------------------------------------------------------------------------------------------------
# the sbatch lines the SLURM profile produces, against stand-in SLURM commands
# ---------------------------------------------------------------------------------------------------------------
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
{body}
"""


def fake_slurm(directory: Path) -> Path:
    """sbatch that records its command line and refuses the job; sinfo/squeue/sacct/... that answer nothing."""
    directory.mkdir()
    log = directory / "calls.log"
    for name in ("sinfo", "squeue", "sacct", "scontrol", "sacctmgr", "sshare", "scancel", "srun"):
        (directory / name).write_text(STUB.format(log=log, body="exit 0"))
    (directory / "sbatch").write_text(STUB.format(log=log, body='echo "stand-in: not submitted" >&2\nexit 1'))
    for path in directory.iterdir():
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return log


TRAIN_TARGET = re.compile(r"'train:task=[^,]+,backbone=([^,]+),method=[^,]+,seed=(\d+)'")


def training_submissions(calls_log) -> dict:
    """(backbone, seed) -> the first sbatch line that submits that final training run, found by the `--target-jobs`
    of the `--wrap`ped Snakemake call (a retry submits the same run again: the first line is the first attempt)."""
    found = {}
    for line in calls_log.read_text().splitlines():
        match = TRAIN_TARGET.search(line) if line.startswith("sbatch ") else None
        if match:
            found.setdefault((match.group(1), int(match.group(2))), line)
    return found


def submit_painn_and_magpie_runs(tmp_path, profile) -> tuple:
    """One ERM run on PaiNN and one on the Magpie MLP through `profile`, against stand-in SLURM commands that
    refuse every submission; everything upstream of training exists, so the training jobs are the first ones
    submitted. Returns (training_submissions() of the sbatch calls, the calls log)."""
    workdir = tmp_path / "work"
    config = {**TINY, "backbones": {"painn": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8},
                                    "magpie_mlp": TINY["backbones"]["magpie_mlp"]},
              "methods": {"erm": {}}, "seeds": [0], "resources": {"train_threads": 2}}
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    for name in (dataset_table("matbench_phonons"), "features/matbench_phonons/magpie.csv",
                 "graphs/matbench_phonons.pt", "splits/phonons_top.json", "splits/phonons_top.csv"):
        path = workdir / "results" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stand-in")
    log = fake_slurm(tmp_path / "bin")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    env.pop("SLURM_CONF", None)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(profile), "-s", str(SNAKEFILE),
         "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
         "--slurm-init-seconds-before-status-checks", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0  # every submission is refused
    runs = training_submissions(log)
    assert runs, (result.stdout + result.stderr)[-5000:]
    return runs, log


def test_slurm_profile_asks_for_a_gpu_exactly_for_gpu_backbone_training(tmp_path):
    runs, log = submit_painn_and_magpie_runs(tmp_path, REPO / "profiles" / "slurm")
    gpu, cpu = runs[("painn", 0)], runs[("magpie_mlp", 0)]
    assert " --gpus=1" in gpu and " -p gpu " in gpu and "--gres" not in gpu
    assert "--gpus" not in cpu and " -p cpu " in cpu and "--gres" not in cpu
    for line in (gpu, cpu):  # train's resources (plus its evaluation's, same group) and its threads (config)
        assert int(re.search(r" -t (\d+) ", line).group(1)) >= 720
        assert int(re.search(r" --mem (\d+) ", line).group(1)) >= 8000 and " --cpus-per-task=2 " in line
    others = [line for line in log.read_text().splitlines()
              if line.startswith("sbatch ") and not TRAIN_TARGET.search(line)]
    assert all("--gpus" not in line and " -p cpu " in line for line in others)


# ---------------------------------------------------------------------------------------------------------------
# jobs that SLURM ends without completing them, against stand-in SLURM commands
# ---------------------------------------------------------------------------------------------------------------
# sacct's text for each seed's training job: sacct --parsable2 appends "by <uid>" to a cancelled job's state
FINAL_STATES = ["CANCELLED by 1000", "PREEMPTED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"]

SBATCH_ACCEPTS = f"""#!{sys.executable}
import re, sys
from pathlib import Path
here = Path(__file__).parent
line = " ".join(sys.argv[1:])
with open(here / "calls.log", "a") as log:
    print("sbatch " + line, file=log)
train = re.search(r"'train:task=[^,]+,backbone=[^,]+,method=[^,]+,seed=(\\d+)'", line)  # the run in the group
if not train:  # the report jobs that need only the split: not this test's business
    sys.exit("stand-in: not submitted")
seed = int(train.group(1))
job = 100 + seed
(here / "jobs").mkdir(exist_ok=True)
(here / "jobs" / str(job)).write_text({FINAL_STATES!r}[seed])
print(job)
"""

SACCT_STATES = """#!{python}
import sys
from pathlib import Path
here = Path(__file__).parent
args = sys.argv[1:]
with open(here / "calls.log", "a") as log:
    print("sacct " + " ".join(args), file=log)
if "|" in args:                             # as the real sacct does with a shell pipe passed as arguments
    sys.exit("sacct: invalid option -- '1'")
if "--name" in args:                        # the plugin's status query: every job of the run
    for job in sorted((here / "jobs").iterdir()):
        print(f"{{job.name}}|{{job.read_text()}}")
elif "-nu" in args:                         # the account guess: the user's jobs of today, most recent last
    print("      acct_a \\n      acct_b ")
elif any("nodelist" in arg for arg in args):
    print("node7")
"""


def test_ended_jobs_fail_at_the_first_status_check_with_their_slurm_state(tmp_path):
    """Cancelled (sacct: "CANCELLED by <uid>"), preempted, timed-out, out-of-memory and node-failed training jobs
    end as failed Snakemake jobs at the first status check, each message naming the SLURM state; the account
    guess works (no "invalid option" from sacct). Needs the plugin patch of `make setup`: without it the cancelled
    and the preempted job are waited for forever (this test then times out)."""
    workdir = tmp_path / "work"
    # no retries: each ended job fails once (a retry would resubmit it and end the same way)
    config = {**TINY, "methods": {"erm": {}}, "seeds": list(range(len(FINAL_STATES))),
              "resources": {**TINY.get("resources", {}), "retries": 0}}
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    for name in (dataset_table("matbench_phonons"), "features/matbench_phonons/magpie.csv",
                 "splits/phonons_top.json", "splits/phonons_top.csv"):
        path = workdir / "results" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stand-in")
    log = fake_slurm(tmp_path / "bin")
    (tmp_path / "bin" / "sbatch").write_text(SBATCH_ACCEPTS)
    (tmp_path / "bin" / "sacct").write_text(SACCT_STATES.format(python=sys.executable))
    (tmp_path / "bin" / "sacctmgr").write_text(STUB.format(log=log, body='printf "acct_a\\nacct_b\\n"'))
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    env.pop("SLURM_CONF", None)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles" / "slurm"), "-s", str(SNAKEFILE),
             "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
             "--slurm-init-seconds-before-status-checks", "1"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as error:
        pytest.fail("Snakemake still waited for jobs SLURM had ended after 240 s: is the plugin patch "
                    f"(scripts/slurm/patch_plugin.sh, run by make setup) applied?\n{str(error.stderr)[-3000:]}")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-5000:]
    for seed, state in enumerate(FINAL_STATES):
        assert re.search(rf"SLURM-job '{100 + seed}' failed.*SLURM status is: '{state}'", output), \
            f"no failure with state {state!r}:\n{output[-5000:]}"
    # one status check reported them all: the plugin logs no second one
    assert len(re.findall(r"SLURM-job '\d+' failed", output)) == len(FINAL_STATES)
    assert "invalid option" not in output and "Guessed SLURM account: acct_b" in output
    sbatch = [line for line in log.read_text().splitlines() if line.startswith("sbatch ") and "'train:" in line]
    assert len(sbatch) == len(FINAL_STATES)
    assert all(" -A acct_b " in line and " --no-requeue" in line for line in sbatch)


def profile_snippet(anchor: str) -> str:
    """The commented set-resources example of profiles/slurm/config.yaml that starts with `train: &anchor`,
    uncommented: the profile's documentation, run as it is written."""
    text = (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    match = re.search(rf"^#(   train: &{anchor}\n(?:#     .*\n)+#   train_grid_point: \*{anchor}\n"
                      rf"#   train_seeds: \*{anchor}\n)", text, re.M)
    assert match, f"profiles/slurm/config.yaml lost its `train: &{anchor}` example"
    return "set-resources:\n" + re.sub(r"^#", "", match.group(1), flags=re.M)


@pytest.mark.parametrize("anchor, gpu_request", [("gpu_model", " --gpus=a100:1"), ("gres", " --gres=gpu:1")])
def test_profile_gpu_examples_reach_only_gpu_backbone_training(tmp_path, anchor, gpu_request):
    """The profile's documented GPU-model and --gres overrides, pasted into a copy of the profile: the GPU
    backbone's training job asks for the GPU that way (and only that way), the CPU backbone's asks for none."""
    profile = tmp_path / "profile"
    shutil.copytree(REPO / "profiles" / "slurm", profile)
    with open(profile / "config.yaml", "a") as config_file:
        config_file.write("\n" + profile_snippet(anchor))
    runs, _ = submit_painn_and_magpie_runs(tmp_path, profile)
    gpu, cpu = runs[("painn", 0)], runs[("magpie_mlp", 0)]
    assert gpu_request in gpu and " -p gpu " in gpu
    assert len(re.findall(r" --(?:gpus|gres)=", gpu)) == 1
    assert "--gpus" not in cpu and "--gres" not in cpu and " -p cpu " in cpu


def test_downloads_run_where_snakemake_runs_never_as_slurm_jobs(tmp_path):
    """download_dataset is a localrule (workflow/rules/download.smk): through profiles/slurm it runs on this host
    (a cluster's login node, which has the network), and sbatch is never called for it."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY))
    log = fake_slurm(tmp_path / "bin")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    env.pop("SLURM_CONF", None)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/" + dataset_table("matbench_phonons"), "--profile",
         str(REPO / "profiles" / "slurm"), "-s", str(SNAKEFILE), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--slurm-init-seconds-before-status-checks", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert (workdir / "results" / dataset_table("matbench_phonons")).stat().st_size > 0
    assert not log.exists() or "sbatch" not in log.read_text()
