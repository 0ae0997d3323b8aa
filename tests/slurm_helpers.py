"""Helpers of tests/test_slurm_cluster.py: the test cluster of scripts/slurm/cluster.sh, `sacct` parsed into
records, Snakemake runs through profiles/slurm, and what those runs print (their --verbose logs)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from conftest import REPO

CLUSTER_SH = REPO / "scripts" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
SNAKEFILE = REPO / "workflow" / "Snakefile"
# the snakemake beside this interpreter (the venv's), as the Makefile's $(BIN)/snakemake
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
# one Magpie-MLP ERM run of phonons_top: the run the cancel and node-failure tests interrupt
ERM_RUN = "results/runs/phonons_top/magpie_mlp/erm/seed0"
ERM_LOG = "results/logs/train/phonons_top/magpie_mlp/erm/seed0.log"

SACCT_FIELDS = ("JobID", "JobName", "Partition", "State", "ExitCode", "NodeList", "ReqTRES", "AllocTRES")


def log(message: str) -> None:
    """A progress line on the console (`make test-slurm` runs pytest with -s)."""
    print(f"[test-slurm] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------------------------------------------
def cluster_sh(command: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER_SH), command], capture_output=True, text=True, timeout=timeout)


def slurm_conf() -> str:
    """The cluster's slurm.conf, from `cluster.sh env` (`export SLURM_CONF=...`)."""
    printed = cluster_sh("env", timeout=30)
    match = re.fullmatch(r"export SLURM_CONF=(\S+)", printed.stdout.strip())
    assert printed.returncode == 0 and match, f"cluster.sh env printed {printed.stdout!r} {printed.stderr!r}"
    return match.group(1)


def node_name() -> str:
    """The cluster's only node: this host's short name (cluster.sh's `hostname -s`)."""
    return subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()


def node_state() -> str:
    printed = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    return printed.stdout.split("\n")[0].strip()


def node_usable() -> bool:
    """Idle, mixed or allocated: jobs can run there (cluster.sh's node_idle)."""
    return node_state().startswith(("idle", "mix", "alloc"))


def set_node(state: str, reason: str | None = None) -> subprocess.CompletedProcess:
    command = ["scontrol", "update", f"NodeName={node_name()}", f"State={state}"]
    return subprocess.run(command + ([f"Reason={reason}"] if reason else []), capture_output=True, text=True)


def squeue_state(job: str) -> str:
    printed = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return printed.stdout.strip()


@dataclass(frozen=True)
class SacctJob:
    """One allocation (`sacct -X`) of the accounting database."""

    job_id: str
    name: str
    partition: str
    state: str          # as sacct prints it, e.g. "CANCELLED by 0"
    exit_code: str      # "<code>:<signal>"
    node_list: str
    req_tres: tuple[str, ...]
    alloc_tres: tuple[str, ...]

    @property
    def base_state(self) -> str:
        """The state without its qualifier ("CANCELLED by 0" -> "CANCELLED")."""
        return self.state.split()[0] if self.state else ""


def sacct(*selection: str) -> list[SacctJob]:
    """`sacct --parsable2 --noheader -X -o <SACCT_FIELDS> <selection>`, one record per job allocation."""
    command = ["sacct", "--parsable2", "--noheader", "-X", "-o", ",".join(SACCT_FIELDS), *selection]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, f"{' '.join(command)} failed: {printed.stderr}"
    jobs = []
    for line in printed.stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        assert len(fields) == len(SACCT_FIELDS), f"unexpected sacct line {line!r}"
        job_id, name, partition, state, exit_code, nodes, req, alloc = fields
        jobs.append(SacctJob(job_id, name, partition, state, exit_code, nodes,
                             tuple(filter(None, req.split(","))), tuple(filter(None, alloc.split(",")))))
    return jobs


def sacct_job(job: str) -> SacctJob:
    jobs = sacct("-j", job)
    assert len(jobs) == 1, f"sacct -j {job}: {jobs}"
    return jobs[0]


def sacct_run(run_id: str) -> list[SacctJob]:
    """Every job of one Snakemake run (the plugin names each job by the run's id)."""
    return sacct(f"--name={run_id}", "-S", "now-1days")


def wait_until(predicate, seconds: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------------------
# Snakemake through profiles/slurm
# ---------------------------------------------------------------------------------------------------------------
def workflow_args(workdir: Path, configfile: Path, *extra: str, status_checks_after: int = 10) -> list[str]:
    """The README's cluster command from the repository, in WORKDIR (--directory keeps the repository's results/
    out of it). Status checks start after STATUS_CHECKS_AFTER seconds instead of the plugin's 40: only a test's
    short jobs care."""
    return ["--profile", str(PROFILE), "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(configfile), *extra,
            "--slurm-init-seconds-before-status-checks", str(status_checks_after)]


def run_snakemake(args: list[str], log_file: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    """snakemake ARGS from the repository root, its output in LOG_FILE; returns the finished process."""
    with open(log_file, "w") as out:
        return subprocess.run([str(SNAKEMAKE), *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout)


def start_snakemake(args: list[str], log_file: Path) -> subprocess.Popen:
    out = open(log_file, "w")
    try:
        return subprocess.Popen([str(SNAKEMAKE), *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def stop_snakemake(process: subprocess.Popen) -> None:
    """On SIGTERM snakemake waits for its running jobs, which hangs exactly when it cannot see that a job ended:
    TERM, then KILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def failure_tail(log_file: Path, lines: int = 50) -> str:
    text = read_log(log_file).split("\n")
    return f"{log_file} ends:\n" + "\n".join(text[-lines:])


def run_id(text: str) -> str | None:
    match = re.search(r"SLURM run ID: ([0-9a-f-]+)", text)
    return match.group(1) if match else None


def job_stats(text: str) -> dict[str, int]:
    """Snakemake's first "Job stats:" table: rule -> count, and "total"."""
    stats: dict[str, int] = {}
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == "Job stats:"), len(lines))
    for line in lines[start + 1:]:
        match = re.match(r"^([a-z_]+)\s+(\d+)\s*$", line)
        if match:
            stats.setdefault(match.group(1), int(match.group(2)))
            if match.group(1) == "total":
                break
    return stats


def submitted_rules(text: str) -> list[str]:
    """The rule of each job sent to the executor ("rule X:"; a local job prints "localrule X:")."""
    return re.findall(r"^rule ([a-z_]+):$", text, flags=re.MULTILINE)


def sbatch_calls(text: str, comment: str = "") -> list[str]:
    """Every `sbatch call:` line (--verbose), without its --wrap; only those with `--comment COMMENT...` if given."""
    calls = [re.sub(r" --wrap=.*", "", line.split("sbatch call: ", 1)[1])
             for line in text.split("\n") if "sbatch call: " in line]
    return [call for call in calls if f"--comment {comment}" in call] if comment else calls


def submitted_job_ids(text: str, rule: str | None = None) -> list[str]:
    """The SLURM job ids Snakemake submitted, in order; only RULE's if given (its log is under rule_RULE/)."""
    ids = []
    for job, log_path in re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", text):
        if rule is None or f"/rule_{rule}/" in log_path:
            ids.append(job)
    return ids


def shown_log_lines(text: str) -> int | None:
    """How many lines of a training job's log show-failed-logs printed: those after its "Logfile
    .../results/logs/train/....log:" line up to the second ===== rule (the rules themselves not counted)."""
    lines = text.split("\n")
    for start, line in enumerate(lines):
        if re.match(r"^Logfile .*results/logs/train/.*\.log:", line):
            break
    else:
        return None
    count = separators = 0
    for line in lines[start + 1:]:
        if re.fullmatch(r"=+", line):
            separators += 1
            if separators == 2:
                return count
            continue
        count += 1
    return None


def checkpointed_epochs(run_dir: Path) -> int:
    """Epochs in the run's first per-epoch checkpoint (extrapbench's training writes resume-<stage>.pt)."""
    import torch

    checkpoint = sorted(run_dir.glob("resume-*.pt"))[0]
    return torch.load(checkpoint, weights_only=False)["epoch"] + 1


def resumed_from_epoch(run_dir: Path) -> int:
    return json.loads((run_dir / "provenance.json").read_text())["resumed_from_epoch"]


def why_not_resumed(workdir: Path) -> str:
    """The training log's lines on a discarded checkpoint (e.g. "... discarded: it belongs to another run (code
    changed)": the package was edited between the interrupted attempt and the next), for a failure message."""
    path = workdir / ERM_LOG
    lines = [line for line in read_log(path).split("\n") if "discarded" in line] if path.exists() else []
    return "; the training log says: " + " | ".join(lines) if lines else ""


def read_log(path: Path) -> str:
    """A log as written: lines end at "\\n" only, so a progress bar's "\\r" redraws stay inside their line."""
    return Path(path).read_bytes().decode(errors="replace")


# ---------------------------------------------------------------------------------------------------------------
# one training job to interrupt
# ---------------------------------------------------------------------------------------------------------------
def write_training_config(path: Path, retries: int) -> None:
    """One Magpie-MLP ERM run of phonons_top: long enough on the CPU to be interrupted after its first epochs,
    short enough for a rerun to finish."""
    config = {
        "data_home": str(REPO / "data" / "matminer"),
        "tasks": ["phonons_top"],
        "backbones": {"magpie_mlp": {"hidden_dim": 256, "out_dim": 128, "num_layers": 3}},
        "methods": {"erm": {}},
        "seeds": [0],
        "train": {"max_epochs": 150, "early_stopping_patience": 150, "batch_size": 16},
        "resources": {"train_threads": 1, "retries": retries},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def copy_upstream(upstream: Path, workdir: Path, *parts: str) -> None:
    """results/<part> of a finished working directory (datasets, features, splits) into WORKDIR."""
    for part in parts:
        shutil.copytree(upstream / "results" / part, workdir / "results" / part, symlinks=True)


@dataclass
class TrainingJob:
    process: subprocess.Popen     # the snakemake that submitted it
    job_id: str                   # its SLURM job id
    workdir: Path
    args: list[str]               # the snakemake options, for a rerun
    log_file: Path

    @property
    def run_dir(self) -> Path:
        return self.workdir / ERM_RUN


def start_training_job(workdir: Path, upstream: Path, retries: int, log_file: Path,
                       checkpoint_within: float = 600) -> TrainingJob:
    """The ERM run of write_training_config through profiles/slurm in WORKDIR (its dataset, features and split
    copied from UPSTREAM), snakemake in the background; returns once the job has its SLURM id and its first
    per-epoch checkpoint. Status checks from 5 s after the submission."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_training_config(workdir / "config.yaml", retries)
    copy_upstream(upstream, workdir, "datasets", "features", "splits")
    args = workflow_args(workdir, workdir / "config.yaml", status_checks_after=5)
    process = start_snakemake([f"{ERM_RUN}/predictions.csv", *args, "--verbose"], log_file)
    run_dir = workdir / ERM_RUN
    deadline = time.monotonic() + checkpoint_within
    try:
        while True:
            ids = submitted_job_ids(read_log(log_file), "train")
            if ids and any(run_dir.glob("resume-*.pt")):
                return TrainingJob(process, ids[0], workdir, args, log_file)
            if process.poll() is not None:
                raise AssertionError(f"snakemake ended before the training job checkpointed; "
                                     f"{failure_tail(log_file, 30)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the training job wrote no checkpoint within {checkpoint_within:.0f} s "
                                     f"({log_file})")
            time.sleep(1)
    except BaseException:
        stop_snakemake(process)
        raise
