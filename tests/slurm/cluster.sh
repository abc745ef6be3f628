#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests and for trying the sbatch scripts.
#
#   tests/slurm/cluster.sh start    install (apt-get, if missing) and start munged, slurmctld and
#                                   slurmd; wait until the node is idle and a 2-task
#                                   `srun --mpi=pmix` step works. Idempotent.
#   tests/slurm/cluster.sh stop     cancel every job, stop the daemons, remove the state folder.
#   tests/slurm/cluster.sh status   exit 0 when the cluster answers and the node is usable.
#   tests/slurm/cluster.sh env      print "export SLURM_CONF=..." for clients (eval "$(... env)").
#
# Runs as root without systemd (containers, CI). Everything the cluster writes -- slurm.conf,
# cgroup.conf, plugstack.conf, daemon state, logs, pid files -- lives in the state folder
# $AGREID_SLURM_STATE (default /tmp/agreid-slurm); nothing in /etc/slurm is read. Clients find the
# cluster through SLURM_CONF=$AGREID_SLURM_STATE/slurm.conf. The node is this host (short name,
# address 127.0.0.1) with CPUs = nproc and RealMemory from `free`; one partition "debug" with
# OverSubscribe=FORCE so that several small jobs share few cores. munged uses the system key
# (/etc/munge/munge.key, created when absent) and its default socket.
#
# Environment: AGREID_SLURM_STATE (state folder), AGREID_SLURM_PORT (slurmctld port, default
# 6817; slurmd uses the next one), AGREID_SLURM_WAIT (seconds to wait for the node and for a
# working pmix step, default 60), AGREID_SLURM_KEEP=1 (stop keeps the state folder and its logs).
set -euo pipefail

state=${AGREID_SLURM_STATE:-/tmp/agreid-slurm}
ctld_port=${AGREID_SLURM_PORT:-6817}
slurmd_port=$((ctld_port + 1))
wait_s=${AGREID_SLURM_WAIT:-60}
conf=$state/slurm.conf
host=$(hostname -s)
export SLURM_CONF=$conf

say() { echo "cluster.sh: $*"; }
die() {
  echo "cluster.sh: error: $*" >&2
  exit 1
}

# pid from a pid file when that process is alive, else empty.
live_pid() {
  local f=$1 pid
  [[ -s $f ]] || return 0
  pid=$(<"$f")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

install_packages() {
  local need=()
  command -v slurmctld >/dev/null || need+=(slurmctld)
  command -v slurmd >/dev/null || need+=(slurmd)
  command -v sbatch >/dev/null || need+=(slurm-client)
  command -v munged >/dev/null || need+=(munge)
  dpkg-query -W -f='${Status}' libpmix-dev 2>/dev/null | grep -q "install ok installed" ||
    need+=(libpmix-dev)
  ((${#need[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || die "missing ${need[*]} and not root; run: sudo apt-get install ${need[*]}"
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client munge libpmix-dev \
    >/dev/null
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then return 0; fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  # --force: a socket left behind by a munged of an earlier session is replaced.
  runuser -u munge -- /usr/sbin/munged --force || die "munged did not start (see /var/log/munge)"
  touch "$state/munged.started-here"
  for _ in $(seq 50); do
    munge_works && return 0
    sleep 0.1
  done
  die "munged started but 'munge -n | unmunge' fails (see /var/log/munge/munged.log)"
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  mem=$(free -m | awk '/^Mem:/ {print $2}')
  mem=$((mem * 9 / 10))
  mkdir -p "$state/ctld" "$state/slurmd"
  cat >"$conf.tmp" <<EOF
# Written by tests/slurm/cluster.sh; regenerated on every start.
ClusterName=agreid
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# Credential lifetime 120 s -> 10 s: a requeued job is held until the credentials of its previous
# run expire, so pre-empted test jobs restart after ~10 s instead of ~2 min.
AuthInfo=cred_expire=10
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$state/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobRequeue=1
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=10
MinJobAge=300
MaxArraySize=1001
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
EOF
  mv "$conf.tmp" "$conf"
  cat >"$state/cgroup.conf" <<EOF
# Unused (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none); present so that no plugin
# falls back to /etc/slurm/cgroup.conf.
CgroupPlugin=autodetect
IgnoreSystemd=yes
EOF
  : >"$state/plugstack.conf"
}

node_state() { sinfo -h -n "$host" -o %T 2>/dev/null | head -n1; }

cluster_up() {
  [[ -s $conf ]] || return 1
  [[ -n $(live_pid "$state/slurmctld.pid") && -n $(live_pid "$state/slurmd.pid") ]] || return 1
  local s
  s=$(node_state)
  [[ $s == idle* || $s == mixed* || $s == allocated* ]]
}

wait_idle() {
  local deadline=$((SECONDS + wait_s)) s=""
  while ((SECONDS < deadline)); do
    s=$(node_state)
    case $s in
      idle* | mixed* | allocated*) return 0 ;;
      down* | drain*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  die "node $host not idle after ${wait_s}s (state '${s:-no answer}'); logs: $state/slurmctld.log $state/slurmd.log"
}

# Runs a 2-task `srun --mpi=pmix` step until each task sees its PMIx rank (the environment
# Slurm's mpi/pmix plugin gives an MPI rank to join its world). The first pmix launch after the
# daemons started on a fresh machine was seen to fail once while the node already showed idle;
# start returns only when such a launch works, so no test job is the first one.
wait_pmix() {
  local deadline=$((SECONDS + wait_s)) out="" tries=0
  while ((SECONDS < deadline)); do
    tries=$((tries + 1))
    # shellcheck disable=SC2016  # expanded by the task's shell
    out=$(timeout 60 srun --mpi=pmix --job-name=pmix-check --nodes=1 --ntasks=2 --overcommit \
      --quiet sh -c 'echo "rank ${PMIX_RANK:-none}"' 2>&1) || true
    if [[ $(sort <<<"$out" | tr '\n' ' ') == "rank 0 rank 1 " ]]; then
      ((tries == 1)) || say "srun --mpi=pmix works after $tries launches"
      return 0
    fi
    sleep 2
  done
  die "srun --mpi=pmix did not start 2 tasks with PMIx ranks in ${wait_s}s (last output:" \
    "'${out:-none}'); logs: $state/slurmctld.log $state/slurmd.log"
}

start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (starts munged, slurmctld and slurmd)"
  if cluster_up; then
    say "already running (SLURM_CONF=$conf)"
    return 0
  fi
  install_packages
  # Daemons of an earlier start that only half came up are stopped first.
  stop_daemons
  mkdir -p "$state"
  write_config
  start_munge
  # -c: start with an empty job table (no jobs of an earlier session).
  SLURM_CONF=$conf slurmctld -c -f "$conf" || die "slurmctld did not start; log: $state/slurmctld.log"
  SLURM_CONF=$conf slurmd -f "$conf" || die "slurmd did not start; log: $state/slurmd.log"
  wait_idle
  wait_pmix
  say "running: node $host, $(nproc) CPUs, partition debug (export SLURM_CONF=$conf)"
}

stop_pidfile() {
  local f=$1 pid
  pid=$(live_pid "$f")
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_daemons() {
  [[ -d $state ]] || return 0
  if [[ -n $(live_pid "$state/slurmctld.pid") ]]; then
    scancel --full --quiet --user=root 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)) && [[ -n $(squeue -h -t R,CG -o %i 2>/dev/null) ]]; do
      sleep 1
    done
  fi
  stop_pidfile "$state/slurmd.pid"
  stop_pidfile "$state/slurmctld.pid"
  if [[ -e $state/munged.started-here ]]; then
    stop_pidfile /run/munge/munged.pid
    rm -f "$state/munged.started-here"
  fi
}

stop() {
  stop_daemons
  if [[ ${AGREID_SLURM_KEEP:-0} == 1 ]]; then
    say "stopped (state kept in $state)"
  else
    rm -rf "$state"
    say "stopped"
  fi
}

status() {
  if cluster_up; then
    say "running: node $host $(node_state) (SLURM_CONF=$conf)"
  else
    say "not running"
    return 1
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *)
    echo "usage: $0 {start|stop|status|env}" >&2
    exit 2
    ;;
esac
