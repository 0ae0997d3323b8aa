#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to test the workflow's SLURM profile: `make test-slurm` runs
# tests/test_slurm_cluster.py against it (that test starts the cluster with `start` unless it runs, and stops
# it with `stop` if it started it).
#
#   scripts/slurm/cluster.sh start    install SLURM, munge and MariaDB from Debian's packages if missing; start
#                                     munged, mariadbd, slurmdbd, slurmctld and slurmd (one node, partitions
#                                     `cpu` (default) and `gpu`, as profiles/slurm/partitions.yaml expects)
#   scripts/slurm/cluster.sh status   which of those daemons run, and the node's state (exit status 3 unless all
#                                     of them run)
#   scripts/slurm/cluster.sh env      prints `export SLURM_CONF=...`: eval it to use sbatch/squeue/sacct by hand
#   scripts/slurm/cluster.sh stop     stops exactly the daemons `start` started, by the process ids in their pid
#                                     files (after cancelling this cluster's jobs); nothing else is touched
#
# For a Debian/Ubuntu machine where you are root (CI, a developer box; no systemd needed). Everything lives under
# $EXTRAPBENCH_SLURM_DIR (default /tmp/extrapbench-slurm): configs, state, logs, pid files, a private munge key and
# socket, a private MariaDB data directory (its password random, made on first start, in etc/db.pass, mode 600).
# `start` creates that directory itself and marks it; it refuses an existing one without its mark, owned by another
# user or writable by others (the default path is predictable). The daemons use their own ports (below), so a
# SLURM, munge or MariaDB of the system itself is neither used nor touched.
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

STATE="${EXTRAPBENCH_SLURM_DIR:-/tmp/extrapbench-slurm}"
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
on_exit() {
    local rc=$?
    if [ $STARTING = 1 ]; then
        log "start failed: stopping the daemons it started"
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

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
