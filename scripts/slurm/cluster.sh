#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to test the workflow's SLURM profile (`make test-slurm`).
#
#   scripts/slurm/cluster.sh start    install SLURM, munge and MariaDB from Debian's packages if missing; start
#                                     munged, mariadbd, slurmdbd, slurmctld and slurmd (one node, partitions
#                                     `cpu` (default) and `gpu`, as profiles/slurm/partitions.yaml expects)
#   scripts/slurm/cluster.sh status   which of those daemons run, and the node's state
#   scripts/slurm/cluster.sh env      prints `export SLURM_CONF=...`: eval it to use sbatch/squeue/sacct by hand
#   scripts/slurm/cluster.sh stop     stops exactly the daemons `start` started, by the process ids in their pid
#                                     files (after cancelling this cluster's jobs); nothing else is touched
#   scripts/slurm/cluster.sh test     start (unless running), run a small grid of the embedded default
#                                     (config/demo.yaml: one task, one seed, ERM and MEX) through profiles/slurm
#                                     to completion and check it, scancel a running training job and check that
#                                     Snakemake fails it with the SLURM state and a rerun resumes it, set the
#                                     node of another training job DOWN and check that its retry (NODE_FAIL) runs
#                                     and resumes, submit one GPU-backbone training job and check its GPU
#                                     request, stop what it started; prints its wall time
#   scripts/slurm/cluster.sh test-cancel   only the scancel check, on a running cluster
#   scripts/slurm/cluster.sh test-node-fail   only the node-failure check, on a running cluster
#
# For a Debian/Ubuntu machine where you are root (CI, a developer box; no systemd needed). Everything lives under
# $EXTRAPBENCH_SLURM_DIR (default /tmp/extrapbench-slurm): configs, state, logs, pid files, a private munge key and
# socket, a private MariaDB data directory (its password random, made on first start, in etc/db.pass, mode 600), and
# the test runs' working directories. `start` creates that directory itself and marks it; it refuses an existing
# one without its mark, owned by another user or writable by others (the default path is predictable). The daemons use their own
# ports (below), so a SLURM, munge or MariaDB of the system itself is neither used nor touched.
#
# Accounting is real (slurmdbd + MariaDB), as on a production cluster: `sacct` works, and the executor plugin's
# default job status check (sacct) is what runs.
#
# /etc/slurm/slurm.conf: inside each job, snakemake-executor-plugin-slurm-jobstep (0.6.1) runs the rule with srun
# in an environment stripped of every SLURM_* variable, SLURM_CONF included, so that srun only finds the default
# /etc/slurm/slurm.conf. `start` therefore links that path to this cluster's slurm.conf if nothing is there (and
# refuses to run if something else is); `stop` removes the link again.
#
# GPU: the node declares `Gres=gpu:1` (gres.conf: AutoDetect=off, File= a character-device stub made with
# mknod). SLURM rejects a job asking for a GPU when no node has one, so without this declaration GPU-backbone
# training jobs (sbatch --gpus=1) could not be scheduled here. The stub is not a GPU: such jobs run on the CPU.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${EXTRAPBENCH_SLURM_DIR:-/tmp/extrapbench-slurm}"
SNAKEMAKE="${SNAKEMAKE:-snakemake}"
# the interpreter beside snakemake (its venv): reads the test's checkpoints, checks the plugin patch
SMK_PYTHON="$(dirname "$(command -v "$SNAKEMAKE" || echo "$SNAKEMAKE")")/python"
CLUSTER=extrapbench
CTLD_PORT="${EXTRAPBENCH_SLURM_PORT:-16817}"     # slurmctld; slurmd +1, slurmdbd +2
SLURMD_PORT=$((CTLD_PORT + 1))
DBD_PORT=$((CTLD_PORT + 2))
DB_PORT=$((CTLD_PORT + 3))                        # mariadbd, bound to 127.0.0.1
DB_NAME=extrapbench_slurm_acct
DB_PASS_FILE="$STATE/etc/db.pass"                  # random, made by the first start (db_password)
export SLURM_CONF="$STATE/etc/slurm.conf"
SYSTEM_CONF=/etc/slurm/slurm.conf

DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop goes backwards
PACKAGES=(munge slurm-wlm slurmdbd mariadb-server)

log() { echo "[cluster.sh] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
pidfile() { echo "$STATE/run/$1.pid"; }

# pid of a daemon we started, if it still runs (the pid file's process, with the expected command name)
running_pid() {
    local name=$1 file pid
    file="$(pidfile "$name")"
    [ -s "$file" ] || return 1
    pid="$(tr -dc '0-9' < "$file")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    # /proc/PID/comm is cut at 15 characters; compare the start of the name
    [[ "$name" == "$(cat "/proc/$pid/comm" 2>/dev/null)"* ]] || return 1
    echo "$pid"
}

wait_for() {   # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what did not come up within ${seconds}s (logs: $STATE/log/)"
}

install_packages() {
    local missing=()
    for cmd in munged mungekey slurmctld slurmd slurmdbd sbatch sacct sacctmgr mariadbd mariadb-install-db mariadb; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; installing them needs root (apt-get install ${PACKAGES[*]})"
    command -v apt-get >/dev/null || die "missing ${missing[*]}, and this is not a Debian/Ubuntu machine"
    log "installing ${PACKAGES[*]} from Debian's packages (missing: ${missing[*]})"
    # the packages' maintainer scripts would start system-wide services: forbid that for the install, unless a
    # policy already exists (containers usually have one)
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >"$STATE/log/apt.log" 2>&1 \
        || { [ $made_policy = 1 ] && rm -f "$policy"; die "apt-get install failed, see $STATE/log/apt.log"; }
    [ $made_policy = 1 ] && rm -f "$policy"
    return 0
}

write_configs() {
    local node cpus memory
    node="$(hostname -s)"
    # the node's real hardware, as slurmd sees it; memory a little below it (slurmd drains a node that has less)
    local hw
    hw="$(slurmd -C | head -1)"
    cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
    memory="$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
    memory=$((memory - 1024))
    local topology
    topology="$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<<"$hw")"

    mknod "$STATE/dev/gpu0" c 1 3 2>/dev/null || [ -c "$STATE/dev/gpu0" ] \
        || die "cannot create the GPU device stub $STATE/dev/gpu0"

    cat > "$STATE/etc/slurm.conf" <<EOF
# written by scripts/slurm/cluster.sh: a one-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/run/munge.socket
CryptoType=crypto/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups needed (containers, CI)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default every job that asks for no memory would get the whole node
DefMemPerCPU=1000
ReturnToService=2
SchedulerType=sched/backfill
MinJobAge=300
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# the munge socket for talking to slurmdbd (else clients use the system default /run/munge/munge.socket.2)
AccountingStoragePass=$STATE/run/munge.socket
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus $topology RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node Default=NO MaxTime=INFINITE State=UP
EOF
    cat > "$STATE/etc/gres.conf" <<EOF
# one "GPU": a character-device stub (not a GPU) so that GPU-tagged jobs can be scheduled on this CPU node
AutoDetect=off
NodeName=$node Name=gpu File=$STATE/dev/gpu0
EOF
    cat > "$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$STATE/run/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$(pidfile slurmdbd)
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
    chmod 600 "$STATE/etc/slurmdbd.conf"

    # srun inside the jobs reads only the default path (see the top of this file)
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; then
        :
    elif [ -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
        die "$SYSTEM_CONF exists (another SLURM set up on this machine?): this test cluster needs that path"
    else
        mkdir -p "$(dirname "$SYSTEM_CONF")"
        ln -s "$SLURM_CONF" "$SYSTEM_CONF"
    fi
}

start_munged() {
    if [ ! -s "$STATE/etc/munge.key" ]; then
        mungekey --create --keyfile="$STATE/etc/munge.key" 2>/dev/null \
            || dd if=/dev/urandom of="$STATE/etc/munge.key" bs=1024 count=1 status=none
        chmod 400 "$STATE/etc/munge.key"
    fi
    munged --force --key-file="$STATE/etc/munge.key" --socket="$STATE/run/munge.socket" \
        --pid-file="$(pidfile munged)" --log-file="$STATE/log/munged.log" --seed-file="$STATE/run/munged.seed"
    wait_for 20 munged running_pid munged
}

start_mariadbd() {
    id mysql >/dev/null 2>&1 || die "no 'mysql' user (mariadb-server not installed properly?)"
    mkdir -p "$STATE/mysql-run"
    chown mysql: "$STATE/mysql-run"
    if [ ! -d "$STATE/mysql/mysql" ]; then
        mkdir -p "$STATE/mysql"
        chown mysql: "$STATE/mysql"
        mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
            --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed, see $STATE/log/mariadb-install.log"
    fi
    # mariadbd drops to the mysql user, which writes its own pid file
    nohup mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$STATE/mysql-run/mysqld.sock" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/mysql-run/mariadbd.pid" \
        --log-error="$STATE/log/mariadb.log" --skip-name-resolve >/dev/null 2>&1 &
    wait_for 60 mariadbd test -S "$STATE/mysql-run/mysqld.sock"
    wait_for 30 "mariadbd's pid file" test -s "$STATE/mysql-run/mariadbd.pid"
    cp "$STATE/mysql-run/mariadbd.pid" "$(pidfile mariadbd)"
    mariadb --no-defaults --socket="$STATE/mysql-run/mysqld.sock" -u root <<EOF
CREATE OR REPLACE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE OR REPLACE USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON \`$DB_NAME\`.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON \`$DB_NAME\`.* TO 'slurm'@'localhost';
EOF
}

start_slurmdbd() {
    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n show cluster
    running_pid slurmdbd >/dev/null || die "slurmdbd is not running (see $STATE/log/slurmdbd.log)"
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    # an account with root in it, as on a real cluster (jobs without -A use the default account)
    if ! sacctmgr -n -P show account format=account | grep -qx "$CLUSTER"; then
        sacctmgr -i add account "$CLUSTER" Cluster="$CLUSTER" Description=test Organization=test >/dev/null
    fi
    if ! sacctmgr -n -P show user format=user | grep -qx root; then
        sacctmgr -i add user root Account="$CLUSTER" Cluster="$CLUSTER" >/dev/null
    fi
}

node_state() { sinfo -h -N -o %T 2>/dev/null | head -1; }

node_idle() { [[ "$(node_state)" == idle* || "$(node_state)" == mix* || "$(node_state)" == alloc* ]]; }

STARTING=0      # 1 while cmd_start starts daemons: a failure then stops those already started
STARTED_HERE=0  # 1 when cmd_test started the cluster: it stops it at the end
on_exit() {
    local rc=$?
    if [ $STARTING = 1 ] || [ $STARTED_HERE = 1 ]; then
        [ $STARTING = 1 ] && log "start failed: stopping the daemons it started"
        cmd_stop || true
    fi
    exit $rc
}
trap on_exit EXIT

# The state directory holds the munge key, slurm.conf and the database: a directory someone else prepared (e.g.
# planted under the predictable /tmp default) would hand them our cluster. So it is created here, marked as ours,
# and any existing one is refused unless it carries our mark and is owned by us and writable by nobody else.
OWNER_MARK=.created-by-extrapbench-cluster-sh
claim_state_dir() {
    if [ ! -e "$STATE" ]; then
        mkdir -m 755 "$STATE" || die "cannot create the state directory $STATE"
        ( umask 077; echo "created by $0 on $(date -u +%FT%TZ)" > "$STATE/$OWNER_MARK" )
    fi
    [ -d "$STATE" ] && [ ! -L "$STATE" ] || die "$STATE exists and is not a directory this script created; \
remove it or set EXTRAPBENCH_SLURM_DIR to a new path"
    [ -f "$STATE/$OWNER_MARK" ] && [ ! -L "$STATE/$OWNER_MARK" ] || die "$STATE was not created by this script \
(no $OWNER_MARK in it): refusing to use it; remove it or set EXTRAPBENCH_SLURM_DIR to a new path"
    [ "$(stat -c %u "$STATE")" = "$(id -u)" ] && [ "$(stat -c %u "$STATE/$OWNER_MARK")" = "$(id -u)" ] \
        || die "$STATE is not owned by $(id -un): refusing to use it"
    case "$(stat -c %A "$STATE")" in
        ?????w????|????????w?) die "$STATE is writable by others: refusing to use it" ;;
    esac
}

# the database password: random, made once per state directory, readable by root only
db_password() {
    if [ ! -s "$DB_PASS_FILE" ]; then
        ( umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DB_PASS_FILE" )
    fi
    cat "$DB_PASS_FILE"
}

cmd_start() {
    claim_state_dir
    mkdir -p "$STATE"/{etc,run,log,ctld,slurmd,dev}
    chmod 755 "$STATE"
    DB_PASS="$(db_password)"
    install_packages
    local all_running=1
    for d in "${DAEMONS[@]}"; do running_pid "$d" >/dev/null || all_running=0; done
    if [ $all_running = 1 ]; then
        log "already running (SLURM_CONF=$SLURM_CONF)"
        return 0
    fi
    for d in "${DAEMONS[@]}"; do
        running_pid "$d" >/dev/null && die "$d runs but not every daemon does: run '$0 stop' first"
    done
    STARTING=1
    write_configs
    start_munged
    start_mariadbd
    start_slurmdbd
    slurmctld
    wait_for 60 slurmctld scontrol ping
    running_pid slurmctld >/dev/null || die "slurmctld is not running (see $STATE/log/slurmctld.log)"
    slurmd
    for _ in $(seq 60); do node_idle && break; sleep 1; done
    if ! node_idle; then   # e.g. drained by an earlier run's state: the node is fine now
        scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
        wait_for 30 "the node" node_idle
    fi
    STARTING=0
    log "running: $(for d in "${DAEMONS[@]}"; do printf '%s=%s ' "$d" "$(running_pid "$d")"; done)"
    log "use it with: export SLURM_CONF=$SLURM_CONF"
    sinfo
}

cmd_stop() {
    # this cluster's own jobs first, so that no job step outlives slurmd
    if running_pid slurmctld >/dev/null; then
        local jobs
        jobs="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        if [ -n "${jobs// /}" ]; then
            log "cancelling jobs $jobs"
            # shellcheck disable=SC2086
            scancel $jobs || true
            for _ in $(seq 30); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 1; done
        fi
    fi
    local i name pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        name=${DAEMONS[i]}
        if pid="$(running_pid "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 30); do [ -d "/proc/$pid" ] || break; sleep 1; done
            if [ -d "/proc/$pid" ]; then
                log "$name ($pid) did not stop on TERM: KILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            log "stopped $name ($pid)"
        fi
        rm -f "$(pidfile "$name")"
    done
    rm -f "$STATE/mysql-run/mariadbd.pid"
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; then
        rm -f "$SYSTEM_CONF"
    fi
}

cmd_status() {
    local rc=0
    for d in "${DAEMONS[@]}"; do
        if pid="$(running_pid "$d")"; then echo "$d: running ($pid)"; else echo "$d: not running"; rc=3; fi
    done
    if running_pid slurmctld >/dev/null; then sinfo; squeue; fi
    return $rc
}

cmd_env() { echo "export SLURM_CONF=$SLURM_CONF"; }

# ---------------------------------------------------------------------------------------------------------------
# the test: a small grid of the embedded default through profiles/slurm, a cancelled training job, one
# GPU-backbone training job
# ---------------------------------------------------------------------------------------------------------------
check() { if "$@"; then :; else die "check failed: $*"; fi; }

# The embedded default (config/demo.yaml) cut down to one task, one seed, ERM and MEX (with MEX's λ selection
# grid) and 5 epochs: every rule of the demo's DAG still runs (the non-local ones as SLURM jobs), with 4 training
# jobs instead of the whole demo's ~70, which a small shared machine cannot run through SLURM in a test's time.
write_small_config() {   # write_small_config OUT
    "$SMK_PYTHON" - "$REPO/config/demo.yaml" "$1" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["tasks"] = config["tasks"][-1:]
config["seeds"] = config["seeds"][:1]
config["methods"] = {name: entry for name, entry in config["methods"].items() if name in ("erm", "mex")}
assert set(config["methods"]) == {"erm", "mex"}, "config/demo.yaml lost its erm or mex entry"
config["train"]["max_epochs"] = 5
# a cluster's layout, as config/config.yaml: one train job per run (the demo packs its seeds into train_seeds jobs)
config["resources"]["seeds_in_one_job"] = False
yaml.safe_dump(config, open(sys.argv[2], "w"))
EOF
}

# A background snakemake of this (non-interactive) script ignores SIGINT, and on SIGTERM it waits for its running
# jobs, which is exactly what hangs when it cannot see that a job ended: TERM, then KILL.
stop_snakemake() {   # stop_snakemake PID
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 15); do [ -d "/proc/$1" ] || break; sleep 1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# One ERM training job of phonons_top through profiles/slurm in DIR, started in the background once its upstream
# inputs exist (copied from UPSTREAM if given, else made through SLURM first); returns when the job has its SLURM id
# and its first per-epoch checkpoint (extrapbench/training.py: resume-<stage>.pt). Long enough on the CPU to be
# interrupted after its first epochs, short enough for a rerun to finish. Sets SMK (snakemake's pid), JOB, RUN and
# JOB_ARGS (the snakemake options, for a rerun). Status checks from 5 s after the submission.
start_training_job() {   # start_training_job NAME DIR OUT RETRIES [UPSTREAM]
    local name=$1 dir=$2 out=$3 retries=$4 upstream=${5:-} waited=0
    RUN=results/runs/phonons_top/magpie_mlp/erm/seed0
    rm -rf "$dir"
    mkdir -p "$dir/results" "$out"
    cat >"$dir/config.yaml" <<EOF
data_home: $REPO/data/matminer
tasks: [phonons_top]
backbones:
  magpie_mlp: {hidden_dim: 256, out_dim: 128, num_layers: 3}
methods:
  erm: {}
seeds: [0]
train: {max_epochs: 150, early_stopping_patience: 150, batch_size: 16}
resources: {train_threads: 1, retries: $retries}
EOF
    JOB_ARGS=(--profile "$REPO/profiles/slurm" -s "$REPO/workflow/Snakefile" --directory "$dir"
              --configfile "$dir/config.yaml" --slurm-init-seconds-before-status-checks 5)
    if [ -n "$upstream" ]; then
        cp -a "$upstream/results/datasets" "$upstream/results/features" "$upstream/results/splits" "$dir/results/"
    else
        "$SNAKEMAKE" "$RUN/predictions.csv" "${JOB_ARGS[@]}" --omit-from train >"$out/$name-upstream.log" 2>&1 \
            || { tail -30 "$out/$name-upstream.log"; die "the $name test's upstream jobs failed ($out/$name-upstream.log)"; }
    fi
    "$SNAKEMAKE" "$RUN/predictions.csv" "${JOB_ARGS[@]}" --verbose >"$out/$name.log" 2>&1 &
    SMK=$!
    JOB=""
    until [ -n "$JOB" ] && compgen -G "$dir/$RUN/resume-*.pt" >/dev/null; do
        [ -d "/proc/$SMK" ] || { tail -30 "$out/$name.log"; die "snakemake ended before the training job checkpointed"; }
        [ $waited -lt 600 ] || { stop_snakemake $SMK; die "the training job wrote no checkpoint within 600 s ($out/$name.log)"; }
        JOB="$(sed -n 's/.*submitted with SLURM jobid \([0-9]*\) (log: .*\/rule_train\/.*/\1/p' "$out/$name.log" | head -1)"
        sleep 1
        waited=$((waited + 1))
    done
}

# A running training job cancelled with scancel (as by its user, an admin or preemption): Snakemake must end
# the job as failed at its next status check, naming the SLURM state, and a rerun must resume the run from its
# last per-epoch checkpoint. The upstream inputs (dataset, features, split) are copied from UPSTREAM if given,
# else made through SLURM first. Sets CANCEL_SECONDS (scancel -> failure reported) and CANCEL_SUMMARY.
CANCEL_DEADLINE="${EXTRAPBENCH_CANCEL_DEADLINE:-120}"   # seconds; see the status-check note below
test_cancel() {   # test_cancel OUT [UPSTREAM]
    local out=$1 upstream=${2:-} dir="$STATE/cancel"
    # retries: 0, so that the failure must surface (with the default 1, Snakemake resubmits the cancelled job at
    # once, and that attempt resumes from the checkpoint as the rerun below does). The plugin waits 10 s longer
    # after every status check that sees no job finish (at most 180 s); the scancel comes within about a minute of
    # the submission, so the next check, which must report the failure, comes well within CANCEL_DEADLINE.
    log "cancelled job: one ERM training job through profiles/slurm in $dir, scancel'd once it has checkpointed"
    start_training_job cancel "$dir" "$out" 0 "$upstream"
    local smk=$SMK job=$JOB run=$RUN args=("${JOB_ARGS[@]}")
    check [ "$(squeue -h -j "$job" -o %T)" = RUNNING ]
    scancel "$job"
    local t0
    t0=$(date +%s)
    while [ -d "/proc/$smk" ] && [ $(($(date +%s) - t0)) -le "$CANCEL_DEADLINE" ]; do sleep 1; done
    CANCEL_SECONDS=$(($(date +%s) - t0))
    if [ -d "/proc/$smk" ]; then
        stop_snakemake $smk
        die "scancel of running job $job: snakemake still waits after ${CANCEL_SECONDS}s (its status loop did not \
see the cancelled state: is scripts/slurm/snakemake-executor-plugin-slurm-2.8.0.patch applied?)"
    fi
    local rc=0
    wait $smk || rc=$?
    log "scancel $job: snakemake reported the failure and exited (status $rc) after ${CANCEL_SECONDS}s"
    check [ $rc -ne 0 ]
    grep "SLURM-job '$job' failed" "$out/cancel.log" | head -1 >"$out/cancel.message" || true
    check grep -q "SLURM status is: 'CANCELLED by $(id -u)'" "$out/cancel.message"
    check [ ! -e "$dir/$run/predictions.csv" ]
    # show-failed-logs printed the job's log on the console: a few lines, not one per progress-bar redraw
    # (scripts/_logging.py keeps tqdm's '\r' redraws out of the log)
    CANCEL_LOG_LINES="$(awk '/^Logfile .*results\/logs\/train\/.*\.log:/ {on = 1; next}
        on && /^=+$/ {if (++seps == 2) {print n + 0; exit}; next} on {n++}' "$out/cancel.log")"
    log "the cancelled job's log, as show-failed-logs printed it: ${CANCEL_LOG_LINES:-no} lines"
    check [ -n "$CANCEL_LOG_LINES" ] && check [ "$CANCEL_LOG_LINES" -gt 0 ] && check [ "$CANCEL_LOG_LINES" -lt 50 ]
    check [ "$(grep -c $'\r' "$dir/results/logs/train/phonons_top/magpie_mlp/erm/seed0.log" || true)" -eq 0 ]
    local epochs
    epochs="$("$SMK_PYTHON" -c 'import sys, torch; print(torch.load(sys.argv[1], weights_only=False)["epoch"] + 1)' \
        "$(compgen -G "$dir/$run/resume-*.pt" | head -1)")"
    log "the cancelled run had checkpointed $epochs epochs; rerunning it"

    "$SNAKEMAKE" "$run/predictions.csv" "${args[@]}" --verbose >"$out/cancel-rerun.log" 2>&1 \
        || { tail -30 "$out/cancel-rerun.log"; die "the rerun after the scancel failed ($out/cancel-rerun.log)"; }
    local resumed
    resumed="$("$SMK_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["resumed_from_epoch"])' \
        "$dir/$run/provenance.json")"
    log "the rerun resumed at epoch $resumed"
    check [ "$resumed" -gt 0 ]
    check [ "$resumed" -ge "$epochs" ]
    sacct -n -X -P -j "$job" -o JobID,State >"$out/cancel.sacct"
    check grep -q "^$job|CANCELLED" "$out/cancel.sacct"
    CANCEL_SUMMARY="job $job cancelled after $epochs epochs; snakemake reported it ${CANCEL_SECONDS}s after the \
scancel ($(sed "s/.*\(SLURM status is: '[^']*'\).*/\1/" "$out/cancel.message")), its log shown in \
$CANCEL_LOG_LINES lines; the rerun resumed at epoch $resumed"
}

# A training job whose node fails (NODE_FAIL; here: the only node, set DOWN by scontrol once the job has
# checkpointed): the plugin records the node and excludes it from later submissions (sbatch --exclude). Where that
# node is the only one of the partition, sbatch refused the retry at once ("Requested node configuration is not
# available") and the run failed; with the plugin patch the retry is submitted without the exclusion, runs once
# the node is back and resumes from the checkpoint. Sets NODE_FAIL_SUMMARY.
test_node_fail() {   # test_node_fail OUT [UPSTREAM]
    local out=$1 upstream=${2:-} dir="$STATE/nodefail" node waited=0
    node="$(hostname -s)"
    log "node failure: one ERM training job (retries: 1) in $dir; its node $node set DOWN once it has checkpointed"
    start_training_job nodefail "$dir" "$out" 1 "$upstream"
    local smk=$SMK job=$JOB run=$RUN
    scontrol update NodeName="$node" State=DOWN Reason=extrapbench-test
    waited=0
    until sacct -n -X -P -j "$job" -o State | grep -q NODE_FAIL; do
        if [ $waited -ge 60 ]; then
            stop_snakemake $smk
            scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
            die "job $job did not end in NODE_FAIL after its node was set DOWN"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    # the node comes back (ReturnToService=2 may have returned it already: then RESUME is refused)
    scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
    wait_for 60 "the node after its failure" node_idle
    local t0 rc=0
    t0=$(date +%s)
    while [ -d "/proc/$smk" ] && [ $(($(date +%s) - t0)) -le 300 ]; do sleep 1; done
    if [ -d "/proc/$smk" ]; then stop_snakemake $smk; die "the retry after NODE_FAIL did not end within 300 s"; fi
    wait $smk || rc=$?
    grep -h "sbatch call:" "$out/nodefail.log" | grep -- "--comment rule_train_" \
        | sed 's/.*sbatch call: //; s/ --wrap=.*//' >"$out/nodefail.sbatch" || true
    log "NODE_FAIL of job $job: snakemake exited with status $rc; its training sbatch calls and messages:"
    sed 's/^/    /' "$out/nodefail.sbatch" >&2
    grep -h "Requested node configuration\|Every node of partition\|failed due to a node failure" "$out/nodefail.log" \
        | sed 's/^ */    /' | head -5 >&2 || true
    check grep -q "SLURM-job '$job' failed due to a node failure" "$out/nodefail.log"
    check [ $rc -eq 0 ]
    check [ "$(wc -l <"$out/nodefail.sbatch")" -eq 2 ]
    check [ "$(grep -c -- "--exclude" "$out/nodefail.sbatch" || true)" -eq 0 ]
    check grep -q "Every node of partition cpu failed earlier in this run ($node)" "$out/nodefail.log"
    local resumed
    resumed="$("$SMK_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["resumed_from_epoch"])' \
        "$dir/$run/provenance.json")"
    check [ "$resumed" -gt 0 ]
    NODE_FAIL_SUMMARY="job $job ended NODE_FAIL on the only node, $node; the retry was submitted without \
--exclude and resumed at epoch $resumed"
}

cmd_test() {
    local test_t0
    test_t0=$(date +%s)
    # a cluster this test starts is stopped when it ends, however it ends (on_exit)
    if ! cmd_status >/dev/null 2>&1; then
        STARTED_HERE=1
        cmd_start
    fi
    "$SNAKEMAKE" --version >/dev/null || die "no snakemake: set SNAKEMAKE=/path/to/venv/bin/snakemake"
    # without the plugin patch the cancelled-job check below would only fail after its deadline: say why now
    bash "$REPO/scripts/slurm/patch_plugin.sh" --check "$SMK_PYTHON"

    local work="$STATE/demo" out="$STATE/test"
    rm -rf "$work" "$out"
    mkdir -p "$work" "$out"
    cd "$REPO"
    write_small_config "$out/small.yaml"
    # the README's cluster command, run from the repository; --directory keeps the repository's results/ out of it
    # and data_home is the shipped data. Status checks start after 10 s instead of the plugin's 40 s default:
    # only a test's short jobs care.
    local args=(--profile "$REPO/profiles/slurm" -s "$REPO/workflow/Snakefile" --directory "$work"
                --configfile "$out/small.yaml" --config "data_home=$REPO/data/matminer"
                --slurm-init-seconds-before-status-checks 10)
    log "running a small grid of the embedded default ($out/small.yaml) through profiles/slurm in $work"
    local t0 t1
    t0=$(date +%s)
    "$SNAKEMAKE" "${args[@]}" --verbose >"$out/demo.log" 2>&1 \
        || { tail -50 "$out/demo.log"; die "the small demo grid failed through SLURM (log: $out/demo.log)"; }
    t1=$(date +%s)
    log "small demo grid through SLURM: $((t1 - t0)) s wall"

    # the jobs of `localrules` (downloads, splits, evaluation, selection, tables, figures; workflow/rules/*.smk) ran
    # here, on the "login node"; every other job (Snakemake prints it as "rule X:", a local one as "localrule X:")
    # must be one completed sbatch job
    local run_id jobs_total downloads remote completed
    run_id="$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$out/demo.log" | head -1)"
    jobs_total="$(awk '/^total[[:space:]]+[0-9]+/ {print $2; exit}' "$out/demo.log")"
    downloads="$(awk '/^download_dataset[[:space:]]+[0-9]+/ {print $2; exit}' "$out/demo.log")"
    remote="$(grep -cE '^rule [a-z_]+:$' "$out/demo.log" || true)"
    sacct -n -X -P --name="$run_id" -S now-1days -o JobID,JobName,State,ReqTRES >"$out/demo.sacct"
    completed="$(grep -c '|COMPLETED|' "$out/demo.sacct" || true)"
    log "sacct: $completed completed SLURM jobs of run $run_id; the DAG had $jobs_total jobs, $remote of them" \
        "submitted ($(grep -E '^rule [a-z_]+:$' "$out/demo.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';'))," \
        "the rest local (${downloads:-0} download_dataset among them)"
    check [ -n "$run_id" ] && check [ -n "$jobs_total" ] && check [ "${downloads:-0}" -ge 1 ]
    check [ "$remote" -ge 3 ] && check [ "$completed" -eq "$remote" ]
    # only the training, featurize / graph and reference-predictor rules are submitted (predict_reference fits a
    # random forest or ridge per task and seed: minutes on the largest dataset, so not a localrule)
    local submitted_rules='train|train_grid_point|train_seeds|featurize_magpie|build_graphs|predict_reference'
    check [ "$(grep -E '^rule [a-z_]+:$' "$out/demo.log" | grep -vcE "^rule ($submitted_rules):\$" || true)" -eq 0 ]
    check grep -qE '^rule predict_reference:$' "$out/demo.log"
    # the downloads ran on this host, not as SLURM jobs
    check [ "$(grep -c -- "--comment rule_download_dataset" "$out/demo.log" || true)" -eq 0 ]
    check [ "$(grep -vc '|COMPLETED|' "$out/demo.sacct" || true)" -eq 0 ]
    # no demo job asked for a GPU (CPU backbone only)
    check [ "$(grep -c 'gres/gpu' "$out/demo.sacct" || true)" -eq 0 ]
    # complete and up to date: tables and figures there, nothing left to do
    for f in results/tables/summary.csv results/tables/mae.md results/figures/fig5_detection_recall.png \
             results/figures/fig4_parity_phonons_top.png results/figures/fig3_label_distributions.pdf; do
        check [ -s "$work/$f" ]
    done
    # mtime only: the code and params triggers would also fire if someone edits a rule file while this runs
    "$SNAKEMAKE" "${args[@]}" -n --rerun-triggers mtime >"$out/demo-dryrun.log" 2>&1
    check grep -q "Nothing to be done" "$out/demo-dryrun.log"
    grep -h "sbatch call:" "$out/demo.log" | sed 's/.*sbatch call: //' >"$out/demo.sbatch"

    # a CPU-backbone training job's request, for the summary: no GPU, the cpu partition
    grep "sbatch call:" "$out/demo.log" | grep -- "--comment rule_train_wildcards_" | sed 's/.*sbatch call: //; s/ --wrap=.*//' \
        | head -1 >"$out/cpu-train.sbatch"
    check grep -q -- "-p cpu" "$out/cpu-train.sbatch"
    check [ "$(grep -c -- "--gpus\|--gres" "$out/cpu-train.sbatch")" -eq 0 ]

    test_cancel "$out" "$work"
    test_node_fail "$out" "$work"

    # one GPU-backbone training job: a tiny PaiNN run, on the demo's dataset table and split (copied)
    local gpu="$STATE/gpu"
    rm -rf "$gpu"
    mkdir -p "$gpu/results"
    cp -a "$work/results/datasets" "$work/results/splits" "$gpu/results/"
    cat >"$gpu/config.yaml" <<EOF
data_home: $REPO/data/matminer
tasks: [phonons_top]
backbones:
  painn: {hidden_channels: 16, num_layers: 1, num_rbf: 8}
methods:
  erm: {}
seeds: [0]
train: {max_epochs: 1, batch_size: 64}
resources: {train_threads: 1}
EOF
    log "one PaiNN (GPU backbone) training job through profiles/slurm in $gpu"
    "$SNAKEMAKE" results/runs/phonons_top/painn/erm/seed0/predictions.csv --profile "$REPO/profiles/slurm" \
        -s "$REPO/workflow/Snakefile" --directory "$gpu" --configfile "$gpu/config.yaml" \
        --slurm-init-seconds-before-status-checks 10 --verbose >"$out/gpu.log" 2>&1 \
        || { tail -50 "$out/gpu.log"; die "the GPU-backbone job failed through SLURM (log: $out/gpu.log)"; }
    local train_call train_id
    train_call="$(grep "sbatch call:" "$out/gpu.log" | grep -- "--comment rule_train_" | sed 's/.*sbatch call: //' | head -1)"
    check [ -n "$train_call" ]
    sed 's/ --wrap=.*//' <<<"$train_call" >"$out/gpu-train.sbatch"
    check grep -q -- "--gpus=1" "$out/gpu-train.sbatch"
    check grep -q -- "-p gpu" "$out/gpu-train.sbatch"
    # the build_graphs job of the same run asks for no GPU
    check [ "$(grep "sbatch call:" "$out/gpu.log" | grep -- "--comment rule_build_graphs" | grep -c -- "--gpus")" -eq 0 ]
    run_id="$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$out/gpu.log" | head -1)"
    sacct -n -X -P --name="$run_id" -S now-1days -o JobID,Comment%80,Partition,State,AllocTRES%80 >"$out/gpu.sacct" \
        || true
    train_id="$(sed -n 's/.*submitted with SLURM jobid \([0-9]*\) (log: .*\/rule_train\/.*/\1/p' "$out/gpu.log" | head -1)"
    check [ -n "$train_id" ]
    sacct -n -X -P -j "$train_id" -o JobID,Partition,State,ReqTRES,AllocTRES >"$out/gpu-train.sacct"
    check grep -q "gres/gpu=1" "$out/gpu-train.sacct"
    check grep -q "|gpu|COMPLETED|" "$out/gpu-train.sacct"
    scontrol show job "$train_id" >"$out/gpu-train.scontrol" 2>&1 || true

    echo
    echo "== make test-slurm: passed in $(($(date +%s) - test_t0)) s wall (cluster start included)"
    echo "small demo grid ($out/small.yaml) through SLURM: $((t1 - t0)) s wall, $completed SLURM jobs, all COMPLETED"
    echo "   results: $work/results   log: $out/demo.log"
    echo "cancelled job: $CANCEL_SUMMARY"
    echo "node failure: $NODE_FAIL_SUMMARY"
    echo "CPU-backbone training job, its sbatch line (without --wrap):"
    echo "   $(cat "$out/cpu-train.sbatch")"
    echo "GPU-backbone training job $train_id, its sbatch line (without --wrap):"
    echo "   $(cat "$out/gpu-train.sbatch")"
    echo "   sacct: $(cat "$out/gpu-train.sacct")"
}

# only the node-failure check, on a running cluster (`start` first)
cmd_test_node_fail() {
    cmd_status >/dev/null 2>&1 || die "the cluster is not running: $0 start"
    cd "$REPO"
    test_node_fail "$STATE/test-node-fail"
    echo "node failure: $NODE_FAIL_SUMMARY"
}

# only the cancelled-job check, on a running cluster (`start` first)
cmd_test_cancel() {
    cmd_status >/dev/null 2>&1 || die "the cluster is not running: $0 start"
    cd "$REPO"
    test_cancel "$STATE/test-cancel"
    echo "cancelled job: $CANCEL_SUMMARY"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    test) cmd_test ;;
    test-cancel) cmd_test_cancel ;;
    test-node-fail) cmd_test_node_fail ;;
    *) echo "usage: $0 start|stop|status|env|test|test-cancel|test-node-fail" >&2; exit 2 ;;
esac
