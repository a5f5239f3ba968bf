#!/usr/bin/env bash
# A real Slurm on this one machine, for the Slurm tests and for trying `groupsweep slurm` without a cluster: this
# host is both the controller and the only compute node, with two logical GPUs (gres on /dev/tty1-2: Slurm sets
# CUDA_VISIBLE_DEVICES for a job asking --gres=gpu:N as it does for real GPUs). Debian's slurmctld / slurmd /
# slurm-client / munge, run without systemd. What a start writes lives in one folder (the config, state, logs and
# the daemons' PID files) and its munged's socket in one beside it, so a stop ends exactly the daemons it started.
#
#   scripts/slurm_single_node.sh install       # the packages, when missing (root; idempotent)
#   scripts/slurm_single_node.sh start DIR     # install, write DIR/slurm.conf, start munged/slurmctld/slurmd;
#                                              # prints "export SLURM_CONF=DIR/slurm.conf" once the node is idle
#   scripts/slurm_single_node.sh stop DIR      # end the daemons DIR's PID files name, and only those
#
# Environment: SLURM_CPUS (default 2), SLURM_GPUS (default 2), SLURMCTLD_PORT / SLURMD_PORT (default 6817 / 6818).
set -euo pipefail

verb=${1:-}
dir=${2:-}

install() {
  if [ "$(id -u)" != 0 ]; then
    echo "slurm_single_node: needs root (it installs Debian's slurm and munge, and runs their daemons)" >&2
    exit 1
  fi
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
      || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  fi
}

alive() {  # alive PIDFILE: the daemon that file names still runs
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

munge_dir() {  # munged runs as the munge user, which may not enter DIR (a test's 0700 temp folder): its own folder
  echo "/tmp/groupsweep-munge-$(echo "$dir" | md5sum | cut -c1-12)"
}

write_config() {
  local host cpus gpus munge
  host=$(hostname -s)
  cpus=${SLURM_CPUS:-2}
  gpus=${SLURM_GPUS:-2}
  munge=$(munge_dir)
  mkdir -p "$dir/state" "$dir/spool" "$munge"
  chown munge:munge "$munge" && chmod 755 "$munge"  # munged: its socket folder open to all, writable by it only
  cat > "$dir/slurm.conf" <<EOF
# single-node Slurm written by scripts/slurm_single_node.sh
ClusterName=groupsweep
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$munge/munge.socket.2
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# no cgroups in a container: processes are tracked by parentage, tasks are not bound
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# how long a job has between SIGTERM and SIGKILL at its time limit or scancel (Slurm's default)
KillWait=30
# finished jobs stay visible to scontrol for 10 minutes (no accounting database here)
MinJobAge=600
# the node as configured, whatever this machine reports (a container's CPU count)
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus RealMemory=8000 Gres=gpu:$gpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$dir/gres.conf" <<EOF
# logical GPUs: device files that exist on every machine, so Slurm hands out GPU ids without CUDA
AutoDetect=off
Name=gpu File=/dev/tty[1-$gpus]
EOF
}

start() {
  install
  [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  write_config
  export SLURM_CONF=$dir/slurm.conf
  if ! alive "$dir/munged.pid"; then
    local munge
    munge=$(munge_dir)
    runuser -u munge -- munged --socket="$munge/munge.socket.2" --pid-file="$munge/munged.pid" \
      --log-file="$munge/munged.log" --seed-file="$munge/munged.seed"
    cp "$munge/munged.pid" "$dir/munged.pid"
  fi
  if ! alive "$dir/slurmctld.pid"; then
    slurmctld -D -i >>"$dir/slurmctld.out" 2>&1 &
    echo $! > "$dir/slurmctld.pid"
  fi
  if ! alive "$dir/slurmd.pid"; then
    slurmd -D >>"$dir/slurmd.out" 2>&1 &
    echo $! > "$dir/slurmd.pid"
  fi
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qx 'idle'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "slurm_single_node: the node did not become idle in 30 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
  for daemon in slurmd slurmctld munged; do
    if alive "$dir/$daemon.pid"; then
      pid=$(cat "$dir/$daemon.pid")
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$daemon.pid"
  done
  rm -rf "$(munge_dir)"
}

case "$verb" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
