"""`groupsweep slurm`: a sweep as Slurm batch jobs. It writes (and with --submit, submits) one sbatch script a
teaching assistant can read, edit and keep: the job's own Ray cluster started per Ray's Slurm guide (the head on the
first node, one `ray start --block` per other node through `srun`), the same driver as every other mode
(`groupsweep run ... --resume --address HEAD`), and the job's Ray processes ended by PID when the driver ends.

A course outlives one job's time limit, so every job continues the sweep: Slurm's warning signal before the limit
(`--signal=B:USR1@N`, trapped) or a SIGTERM (scancel, the limit itself) is passed to the driver, which stops its
trials as on any SIGTERM — finished rows and each running trial's last checkpoint kept (sweeps.interrupt) — and the
next job (`--chain N`: N jobs with afterany dependencies, or `--requeue`: the same job queued again) resumes it. A
job that finds the sweep finished (`groupsweep status`) ends before starting Ray.

Two jobs on one node never meet: each has its own port block (from its job id), its own short temp dir (Ray's
socket paths must stay under 107 bytes, which a Slurm job folder can exceed) and its own token."""
from __future__ import annotations

import argparse
import datetime
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sweeps.options import ConfigError

# options of `groupsweep run` the job sets itself
SET_BY_JOB = ("--resume", "--fresh", "--local", "--address", "--dry-run")
TIME = re.compile(r"(?:(?P<d>\d+)-)?(?P<h>\d+)(?::(?P<m>\d+)(?::(?P<s>\d+))?)?$")


def time_seconds(text: str) -> int:
    """Slurm's --time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    match = TIME.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a Slurm time limit: minutes, HH:MM:SS or D-HH:MM:SS")
    d, h, m, s = (int(match[k] or 0) for k in "dhms")
    if d:  # D-HH[:MM[:SS]]
        return ((d * 24 + h) * 60 + m) * 60 + s
    if match["s"] is not None:  # HH:MM:SS
        return (h * 60 + m) * 60 + s
    if match["m"] is not None:  # MM:SS
        return h * 60 + m
    return h * 60  # minutes


def slurm_time(text: str) -> str:
    time_seconds(text)
    return text.strip()


def sbatch_line(text: str) -> str:
    if not text.startswith("--"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected an sbatch option such as --mail-type=END")
    return text


@dataclass(frozen=True)
class SlurmJob:
    """One sweep's batch job: what it asks Slurm for and what it runs."""

    sweep_id: str
    sweep_dir: str  # <storage>/<sweep-id>: what `groupsweep status` reads before Ray starts
    run_args: tuple[str, ...]  # `groupsweep run`'s options as given, with --sweep-id
    workdir: Path
    log_dir: Path
    python: str
    nodes: int = 1
    gpus_per_node: int = 1
    cpus_per_node: int = 8
    mem: str | None = None
    time: str = "04:00:00"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    stop_before: int = 180
    requeue: bool = False
    sbatch: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"gs-{self.sweep_id}"[:60]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.argtypes import number

    job = parser.add_argument_group("the job (sbatch)")
    job.add_argument("--nodes", metavar="N", type=number(int, low=1), default=1, help="nodes per job")
    job.add_argument("--gpus-per-node", metavar="N", type=number(int, low=0), default=1,
                     help="GPUs per node (--gres=gpu:N)")
    job.add_argument("--cpus-per-node", metavar="N", type=number(int, low=1), default=8,
                     help="CPUs per node (one task per node, --cpus-per-task)")
    job.add_argument("--mem", metavar="SIZE", default=None,
                     help="memory per node, as sbatch writes it (64G); default: the site's")
    job.add_argument("--time", metavar="LIMIT", type=slurm_time, default="04:00:00",
                     help="each job's time limit: minutes, HH:MM:SS or D-HH:MM:SS")
    job.add_argument("--partition", metavar="NAME", default=None,
                     help="the partition with GPUs (default: the site's default)")
    job.add_argument("--account", metavar="NAME", default=None, help="the account charged (default: yours)")
    job.add_argument("--qos", metavar="NAME", default=None, help="quality of service (default: the partition's)")
    job.add_argument("--sbatch", type=sbatch_line, action="append", metavar="OPTION",
                     help="one more #SBATCH line, e.g. --sbatch=--mail-type=END (repeatable)")
    job.add_argument("--module", action="append", metavar="NAME",
                     help="a `module load NAME` before anything runs, e.g. python/3.11 (repeatable)")
    job.add_argument("--setup", action="append", metavar="SHELL",
                     help="a shell line run after the modules, e.g. 'source ~/course/.venv/bin/activate' (repeatable)")
    job.add_argument("--python", metavar="PATH", default=sys.executable,
                     help="the Python with groupsweep installed, as the nodes see it (default: this one)")
    span = parser.add_argument_group("longer than one job")
    span.add_argument("--stop-before", type=number(int, low=10), default=180, metavar="SECONDS",
                      help="stop the trials this long before the time limit (Slurm's warning signal), so that their "
                           "rows and checkpoints are written; Slurm may send it up to a minute earlier")
    chain = span.add_mutually_exclusive_group()
    chain.add_argument("--chain", type=number(int, low=1), default=1, metavar="N",
                       help="submit N jobs, each starting when the one before ended (afterany): a job that finds "
                            "the sweep finished ends at once")
    chain.add_argument("--requeue", action="store_true",
                       help="instead of a chain: a job stopped by its time limit queues itself again (scontrol "
                            "requeue) until the sweep is finished")
    out = parser.add_argument_group("the script")
    out.add_argument("--script", metavar="PATH", type=Path, default=None,
                     help="where the script is written (default: slurm/<sweep-id>.sbatch)")
    out.add_argument("--log-dir", metavar="FOLDER", type=Path, default=Path("slurm") / "logs",
                     help="the jobs' output files, <name>-<job id>.out")
    what = out.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="print the script; write and submit nothing")
    what.add_argument("--submit", action="store_true", help="write the script and submit it (--chain N: N jobs)")
    parser.add_argument("run_options", nargs=argparse.REMAINDER, metavar="-- RUN_OPTIONS",
                        help="`groupsweep run`'s options for the sweep (--budget, --data-root, --storage, --part, "
                             "--groups ...), after --")


def run_arguments(args: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """`groupsweep run`'s options given after --, parsed as that command parses them (a mistake is refused here,
    not in the queue hours later); those the job sets itself are refused."""
    from sweeps import all_groups
    from sweeps.cli import HelpFormatter

    given = list(args.run_options)
    if given[:1] == ["--"]:
        given = given[1:]
    for option in given:
        name = option.split("=", 1)[0]
        if name in SET_BY_JOB:
            raise ConfigError(f"groupsweep slurm -- {name}: set by the job itself (every job continues the sweep "
                              f"with --resume on the job's own Ray cluster); leave it out")
    parser = argparse.ArgumentParser(prog="groupsweep slurm [options] --", formatter_class=HelpFormatter)
    all_groups.add_arguments(parser)
    return parser.parse_args(given), given


def build_job(args: argparse.Namespace) -> SlurmJob:
    """The job the options describe, checked."""
    from core import store
    from sweeps import all_groups
    from sweeps.storage import NETWORK_FILESYSTEMS, filesystem_type

    run_args, given = run_arguments(args)
    sweep_id = all_groups.sweep_name(run_args)
    if not run_args.sweep_id:
        given += ["--sweep-id", sweep_id]
    storage = run_args.storage
    if args.nodes > 1 and not store.is_uri(storage) and not run_args.shared_storage \
            and filesystem_type(Path(storage)) not in NETWORK_FILESYSTEMS:
        raise ConfigError(f"--storage {storage}: this machine's own disk ({filesystem_type(Path(storage))}), and "
                          f"--nodes {args.nodes} needs storage every node reaches: a shared filesystem path (or "
                          f"--shared-storage if it is one) or s3://bucket/prefix")
    limit = time_seconds(args.time)
    if args.stop_before >= limit - 60:
        raise ConfigError(f"--stop-before {args.stop_before}: leaves less than a minute of a {args.time} job "
                          f"({limit} s); a longer --time or a shorter --stop-before")
    return SlurmJob(sweep_id=sweep_id, sweep_dir=str(store.join(storage, sweep_id)), run_args=tuple(given),
                    workdir=Path.cwd(), log_dir=args.log_dir.resolve(), python=args.python, nodes=args.nodes,
                    gpus_per_node=args.gpus_per_node, cpus_per_node=args.cpus_per_node, mem=args.mem,
                    time=args.time, partition=args.partition, account=args.account, qos=args.qos,
                    stop_before=args.stop_before, requeue=args.requeue, sbatch=tuple(args.sbatch or ()),
                    modules=tuple(args.module or ()), setup=tuple(args.setup or ()))


def directives(job: SlurmJob) -> list[str]:
    """The #SBATCH lines (sbatch reads them up to the first command; comment lines between them are fine)."""
    lines = [f"--job-name={job.name}", f"--nodes={job.nodes}", "--ntasks-per-node=1",
             f"--cpus-per-task={job.cpus_per_node}", f"--time={job.time}",
             f"--output={job.log_dir}/%x-%j.out", f"--chdir={job.workdir}"]
    if job.gpus_per_node:
        lines.insert(4, f"--gres=gpu:{job.gpus_per_node}")
    lines += [f"--{name}={value}" for name, value in
              (("mem", job.mem), ("partition", job.partition), ("account", job.account), ("qos", job.qos)) if value]
    if job.requeue:
        lines += ["--requeue", "--open-mode=append"]  # a restart's output after the run before, not over it
    warning = [f"# Slurm's warning {job.stop_before} s before the time limit, to this shell only: it stops the "
               f"driver (step 3)", f"#SBATCH --signal=B:USR1@{job.stop_before}"]
    return [f"#SBATCH {line}" for line in lines + list(job.sbatch)] + warning


def by_option(args: tuple[str, ...]) -> list[list[str]]:
    """Command-line words grouped one option (and its values) to a group, for one line each."""
    groups: list[list[str]] = []
    for word in args:
        if word.startswith("-") or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups


def render(job: SlurmJob, script: Path, written: str) -> str:
    """The whole sbatch script: a header of facts, then the fixed body (BODY) that reads them."""
    q = shlex.quote
    args = "\n  ".join(" ".join(q(a) for a in option) for option in by_option(job.run_args))
    setup = [f"module load {q(m)}" for m in job.modules] + list(job.setup)
    header = [
        "#!/bin/bash",
        f"# groupsweep sweep {job.sweep_id} as a Slurm job, written by `groupsweep slurm` on {written}.",
        f"# Yours to edit and keep. Submit: sbatch {q(str(script))}",
        "# (each job continues the sweep where the one before stopped)",
        *directives(job),
        "",
        *(["# the site's environment", *setup, ""] if setup else []),
        "# what the job runs: the Python with groupsweep installed, and the sweep (groupsweep run's options)",
        f"PYTHON={q(job.python)}",
        f"RUN={q(job.sweep_dir)}",
        f"SWEEP=(\n  {args}\n)" if args else "SWEEP=()",
        f"REQUEUE={int(job.requeue)}",
        "# what a stopped sweep says continues it (`groupsweep status`, the report)",
        f"export GROUPSWEEP_RESUME_COMMAND={q('sbatch ' + q(str(script)))}",
    ]
    return "\n".join(header) + "\n" + BODY


BODY = r'''
set -uo pipefail
echo "job $SLURM_JOB_ID on $SLURM_JOB_NODELIST (GPUs ${CUDA_VISIBLE_DEVICES:-none}): sweep $RUN" \
  "(restart ${SLURM_RESTART_COUNT:-0}), $(date -u +%FT%TZ)"

# 1. Where the sweep stands: a job that finds it finished (a chain's later jobs) ends here, before Ray starts; one
#    that finds it begun continues it (--resume).
"$PYTHON" -m groupsweep status "$RUN"
case $? in
  0) exit 0 ;;
  1) resume=(--resume) ;;
  3) resume=() ;;
  *) echo "error: groupsweep status $RUN failed (above)" >&2; exit 2 ;;
esac

# 2. This job's own Ray cluster. Its ports come from a block of 200 chosen by the job id, its temp dir is short and
#    its own, its token is new: two jobs on one node never share a port, a socket or a session.
RAY=("$PYTHON" -m ray.scripts.scripts)
nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
base=$((20000 + (SLURM_JOB_ID % 200) * 200))
port=$base
temp_dir=/tmp/gs-$SLURM_JOB_ID-${SLURM_RESTART_COUNT:-0}
ports=(--node-manager-port=$((base + 1)) --object-manager-port=$((base + 2)) --ray-client-server-port=$((base + 3))
       --dashboard-agent-grpc-port=$((base + 4)) --dashboard-agent-listen-port=$((base + 5))
       --metrics-export-port=$((base + 6)) --runtime-env-agent-port=$((base + 7))
       --min-worker-port=$((base + 20)) --max-worker-port=$((base + 199)))
# what Slurm gave each node: Ray sees these, not the node's whole CPU and GPU count (the GPUs as Slurm counts
# them, else as many as CUDA_VISIBLE_DEVICES names)
IFS=, read -ra visible <<< "${CUDA_VISIBLE_DEVICES:-}"
node_resources=(--num-cpus="${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-1}}"
                --num-gpus="${SLURM_GPUS_ON_NODE:-${#visible[@]}}")
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')
export RAY_AUTH_TOKEN
# a fixed cluster: no autoscaler (a ~/ray_bootstrap_config.yaml left by an earlier `ray up` is not this one)
export GROUPSWEEP_AUTOSCALING_CONFIG=/dev/null
# the head's address as Ray itself picks it on the first node (set GROUPSWEEP_HEAD_IP where that picks wrong)
head_ip=${GROUPSWEEP_HEAD_IP:-$(srun --overlap -N1 -n1 -w "${nodes[0]}" "$PYTHON" -c \
  'import ray.util; print(ray.util.get_node_ip_address())')}
address=$head_ip:$port

ray_pids=()
stop_ray() {  # this job's Ray processes, by PID: srun passes the SIGTERM to each node's `ray start --block`
  [ ${#ray_pids[@]} -gt 0 ] || return 0
  kill -TERM "${ray_pids[@]}" 2>/dev/null
  for _ in $(seq 60); do kill -0 "${ray_pids[@]}" 2>/dev/null || break; sleep 1; done
  kill -KILL "${ray_pids[@]}" 2>/dev/null
  ray_pids=()
}
trap stop_ray EXIT

srun --overlap -N1 -n1 -w "${nodes[0]}" "${RAY[@]}" start --head --block --disable-usage-stats \
  --node-ip-address="$head_ip" --port="$port" --dashboard-port=$((base + 8)) --temp-dir="$temp_dir" \
  --include-dashboard=false "${ports[@]}" "${node_resources[@]}" &
ray_pids+=($!)
for _ in $(seq 120); do
  "${RAY[@]}" health-check --address "$address" >/dev/null 2>&1 && break
  if ! kill -0 "${ray_pids[0]}" 2>/dev/null; then
    echo "error: the Ray head did not start (see above)" >&2
    exit 1
  fi
  sleep 1
done
for node in "${nodes[@]:1}"; do
  srun --overlap -N1 -n1 -w "$node" "${RAY[@]}" start --block --disable-usage-stats --address="$address" \
    --temp-dir="$temp_dir" "${ports[@]}" "${node_resources[@]}" &
  ray_pids+=($!)
done

# 3. The driver, as in every other mode. Slurm's warning before the time limit (USR1) and a SIGTERM (scancel, the
#    limit itself) stop it as any SIGTERM does: finished rows and each running trial's last checkpoint are kept.
"$PYTHON" -m groupsweep run "${SWEEP[@]}" "${resume[@]}" --address "$address" &
driver=$!
stopped_by=""
stop_driver() {
  stopped_by=$1
  echo "job $SLURM_JOB_ID: $(date -u +%FT%TZ): $1: stopping the sweep; the next job continues it"
  kill -TERM "$driver" 2>/dev/null
}
trap 'stop_driver "time limit near (USR1)"' USR1
trap 'stop_driver "SIGTERM (scancel, or the time limit)"' TERM
code=0
wait "$driver" || code=$?
while kill -0 "$driver" 2>/dev/null; do  # a trapped signal ends `wait` early: wait again for the driver's end
  code=0
  wait "$driver" || code=$?
done

trap '' USR1 TERM  # the driver has ended: a late warning changes nothing

# 4. This job's Ray ends with it; with --requeue, a job stopped before its limit queues itself again.
stop_ray
if [ "$REQUEUE" = 1 ] && [ "$stopped_by" = "time limit near (USR1)" ] && [ "$code" != 0 ]; then
  scontrol requeue "$SLURM_JOB_ID" && echo "job $SLURM_JOB_ID: requeued; it continues the sweep when it starts again"
fi
exit "$code"
'''


def submit(script: Path, chain: int) -> list[str]:
    """sbatch the script `chain` times, each job after the one before (afterany: whatever way it ended)."""
    if shutil.which("sbatch") is None:
        raise ConfigError("sbatch: not found on this machine; run `groupsweep slurm` on the cluster's login node "
                          "(or --dry-run to see the script)")
    ids: list[str] = []
    for _ in range(chain):
        after = [f"--dependency=afterany:{ids[-1]}"] if ids else []
        done = subprocess.run(["sbatch", "--parsable", *after, str(script)], capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise ConfigError(f"sbatch {script}: {why[-1] if why else f'exit {done.returncode}'}"
                              + (f" (submitted before it: {', '.join(ids)})" if ids else ""))
        ids.append(done.stdout.strip().split(";")[0])
    return ids


def run(args: argparse.Namespace) -> int:
    job = build_job(args)
    script = (args.script or Path("slurm") / f"{job.sweep_id}.sbatch").resolve()
    text = render(job, script, datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    if args.dry_run:
        print(text, end="")
        return 0
    script.parent.mkdir(parents=True, exist_ok=True)
    job.log_dir.mkdir(parents=True, exist_ok=True)  # sbatch does not create it, and a job without it writes nothing
    script.write_text(text)
    print(f"written: {script}")
    if not args.submit:
        print(f"submit: sbatch {shlex.quote(str(script))}, or this command with --submit (with --chain N: N jobs)")
        return 0
    ids = submit(script, args.chain)
    chained = " (a chain: each after the one before)" if len(ids) > 1 else ""
    print(f"submitted: job {', '.join(ids)}{chained}; output: {job.log_dir}/{job.name}-<job id>.out")
    print(f"where it stands: groupsweep status {job.sweep_dir}")
    return 0
