"""An autoscaling cluster on this machine, driven by the shipped cluster.yaml: the path a course takes on AWS
(`ray up cluster.yaml`, no worker running, then a sweep) with Ray's fake multi-node provider standing in for EC2.
The autoscaler (v2, what `ray up` runs since Ray 2.50) starts a worker "node" — Ray's own daemons, as local
processes — when trials wait, with the resources cluster.yaml's worker types declare (their GPUs logical), and ends
it after the idle timeout.

    python -m sweeps.cluster.autoscaling up [--max-workers 2] [--idle-timeout-minutes 0.5]
    eval "$(python -m sweeps.cluster.autoscaling env)"     # RAY_ADDRESS and what a driver needs to join
    python sweeps/all_groups.py --gpus-per-trial 0.25 ...
    python -m sweeps.cluster.autoscaling status
    python -m sweeps.cluster.autoscaling down              # ends this cluster's processes, and only them

Only `max_workers` and `idle_timeout_minutes` differ from cluster.yaml (lowered for this machine's cores, never
raised); every worker type keeps its resources, `min_workers` and the cluster's `upscaling_speed`. What one machine
cannot show: instance start time (a fake node joins in seconds, an EC2 one in minutes), real spot notices, separate
disks and clocks.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from sweeps.cluster import processes
from sweeps.cluster.shape import AUTOSCALING_CONFIG_ENV as CONFIG_ENV
from trainables.trial import LOGICAL_GPUS_ENV

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = ROOT / "cluster.yaml"
TEMP_DIR = "/tmp/ray-gs-autoscale"  # every process of this cluster names it (how `down` finds them)
MARK = re.compile(re.escape(TEMP_DIR) + r"(?![\w.-])")
STATE = Path(TEMP_DIR + "-state")  # the generated autoscaling config and the head's address
# Ray's fake provider names the head so; the v2 autoscaler needs the head's instance id to match it
FAKE_HEAD_TYPE = "ray.head.default"
FAKE_HEAD_ID = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
# Ray's fake provider, loaded as an "external" one: as `type: fake_multinode` the autoscaler first reads that
# provider's example.yaml for defaults, which the Ray 2.60 wheel does not ship (FileNotFoundError)
FAKE_PROVIDER = "ray.autoscaler._private.fake_multi_node.node_provider.FakeMultiNodeProvider"
# this machine's defaults: 2 workers of cluster.yaml's g5.xlarge shape (4 CPU, 1 GPU: 8 trial slots at 0.25 GPU),
# idle for 30 s instead of 10 minutes
MAX_WORKERS, IDLE_TIMEOUT_MINUTES = 2, 0.5


class AutoscaleError(RuntimeError):
    """The autoscaling cluster could not be brought up or down; the message says which step failed."""


@dataclass(frozen=True)
class Lowered:
    """What this machine lowers in cluster.yaml, and from what."""

    max_workers: int
    idle_timeout_minutes: float
    declared_max_workers: int
    declared_idle_timeout_minutes: float

    def describe(self) -> str:
        return (f"max_workers {self.max_workers} (cluster.yaml: {self.declared_max_workers}), idle_timeout_minutes "
                f"{self.idle_timeout_minutes:g} (cluster.yaml: {self.declared_idle_timeout_minutes:g})")


def local_config(cluster: dict, address: str, max_workers: int = MAX_WORKERS,
                 idle_timeout_minutes: float = IDLE_TIMEOUT_MINUTES) -> tuple[dict, Lowered]:
    """The fake provider's autoscaling config from cluster.yaml's own: its head's and worker types' resources,
    min_workers and upscaling_speed as they are; max_workers and idle_timeout_minutes lowered (never raised)."""
    declared_max, declared_idle = int(cluster["max_workers"]), float(cluster["idle_timeout_minutes"])
    if not 0 < max_workers <= declared_max:
        raise AutoscaleError(f"--max-workers {max_workers}: expected 1..{declared_max} (cluster.yaml's max_workers)")
    if not 0 < idle_timeout_minutes <= declared_idle:
        raise AutoscaleError(f"--idle-timeout-minutes {idle_timeout_minutes:g}: expected above 0 and at most "
                             f"{declared_idle:g} (cluster.yaml's)")
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    node_types = {FAKE_HEAD_TYPE: {"resources": dict(head["resources"]), "node_config": {}, "max_workers": 0}}
    for name, spec in types.items():
        if name == cluster["head_node_type"]:
            continue
        node_types[name] = {"resources": dict(spec["resources"]), "node_config": {},
                            "min_workers": int(spec.get("min_workers", 0)),
                            "max_workers": min(int(spec.get("max_workers", declared_max)), max_workers)}
    config = {
        "cluster_name": f"{cluster['cluster_name']}-autoscale", "max_workers": max_workers,
        "upscaling_speed": cluster.get("upscaling_speed", 1.0), "idle_timeout_minutes": idle_timeout_minutes,
        "provider": {"type": "external", "module": FAKE_PROVIDER, "gcs_address": address,
                     "head_node_id": FAKE_HEAD_ID, "launch_multiple": True},
        "auth": {"ssh_user": "ubuntu"}, "available_node_types": node_types, "head_node_type": FAKE_HEAD_TYPE,
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }
    return config, Lowered(max_workers, idle_timeout_minutes, declared_max, declared_idle)


def driver_env() -> dict[str, str]:
    """What a driver joining this cluster needs: its address, token auth, logical GPUs, the node types."""
    if not (STATE / "address").exists():
        raise AutoscaleError(f"no autoscaling cluster is up ({STATE / 'address'} missing): "
                             f"groupsweep cluster up")
    return {"RAY_ADDRESS": (STATE / "address").read_text().strip(), "RAY_AUTH_MODE": "token",
            LOGICAL_GPUS_ENV: "1", CONFIG_ENV: str(STATE / "config.json")}


def _ray(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run([str(Path(sys.executable).parent / "ray"), *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ) | (env or {}))
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise AutoscaleError(f"ray {args[0]} failed (exit {done.returncode}): {tail}")
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def up(max_workers: int = MAX_WORKERS, idle_timeout_minutes: float = IDLE_TIMEOUT_MINUTES) -> Lowered:
    """Start the head (no worker: the autoscaler starts them when trials wait)."""
    import ray._private.services as services

    if processes.cluster_processes(MARK):
        raise AutoscaleError(f"an autoscaling cluster is already up ({TEMP_DIR}); "
                             f"groupsweep cluster down first")
    _ray("get-auth-token", "--generate")  # token auth, as the loopback cluster: the head listens on the network
    port = _free_port()
    address = f"{services.get_node_ip_address()}:{port}"
    cluster = yaml.safe_load(CLUSTER_YAML.read_text())
    config, lowered = local_config(cluster, address, max_workers, idle_timeout_minutes)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "config.json").write_text(json.dumps(config, indent=1))
    head = cluster["available_node_types"][cluster["head_node_type"]]["resources"]
    env = {"RAY_FAKE_CLUSTER": "1", "RAY_enable_autoscaler_v2": "1", "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_ID,
           "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_ID, "RAY_NODE_TYPE_NAME": FAKE_HEAD_TYPE,
           "RAY_AUTH_MODE": "token", LOGICAL_GPUS_ENV: "1"}
    _ray("start", "--head", f"--port={port}", f"--num-cpus={head.get('CPU', 0)}",
         f"--num-gpus={head.get('GPU', 0)}", f"--temp-dir={TEMP_DIR}", "--include-dashboard=false",
         f"--dashboard-port={_free_port()}",  # its API server runs anyway: not on 8265, another Ray's
         f"--autoscaling-config={STATE / 'config.json'}", env=env)
    (STATE / "address").write_text(address)
    return lowered


def nodes() -> list[dict]:
    """Alive nodes as {node_id, type, cpus, gpus}, asked from a separate process (this one must not join)."""
    env = driver_env()
    code = ("import json, ray; ray.init(logging_level='ERROR'); "
            "print('NODES', json.dumps([{'node_id': n['NodeID'], 'cpus': n['Resources'].get('CPU', 0), "
            "'gpus': n['Resources'].get('GPU', 0)} for n in ray.nodes() if n['Alive']]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ) | env)
    lines = [line[len("NODES "):] for line in done.stdout.splitlines() if line.startswith("NODES ")]
    if done.returncode != 0 or not lines:
        raise AutoscaleError(f"cannot reach {env['RAY_ADDRESS']}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(lines[-1])


def workers() -> int:
    """Worker nodes alive now (the head has no GPU)."""
    return sum(1 for n in nodes() if n["gpus"] > 0)


def wait_workers(count: int, timeout: float) -> float:
    """Seconds until exactly `count` workers are alive (AutoscaleError after `timeout`)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if workers() == count:
            return time.time() - t0
        time.sleep(2)
    raise AutoscaleError(f"{count} worker(s) expected within {timeout:.0f} s; {workers()} alive")


def kill_node(node_id: str) -> int:
    """End one worker node as a reclaimed spot instance ends: its raylet and everything under it (the trials'
    processes) SIGKILLed by PID, no notice, no drain. Returns how many processes were ended."""
    import psutil

    raylets = [p for p in processes.cluster_processes(MARK)
               if "raylet" in p.name() and f"--node_id={node_id}" in p.cmdline()]
    if not raylets:
        raise AutoscaleError(f"no raylet of node {node_id} in this cluster")
    victims = [q for p in raylets for q in (p, *p.children(recursive=True))]
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(victims, timeout=10)
    return len(victims)


def requested_bundles() -> int:
    """Bundles the cluster's standing request_resources asks for now (0: none, or released), from a separate
    process."""
    code = ("import ray; ray.init(logging_level='ERROR'); "
            "from ray.autoscaler.v2.sdk import get_cluster_resource_state; "
            "from ray._raylet import GcsClient; "
            "state = get_cluster_resource_state(GcsClient(address=ray.get_runtime_context().gcs_address)); "
            "print('BUNDLES', sum(len(c.resource_requests) for c in state.cluster_resource_constraints))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ) | driver_env())
    lines = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("BUNDLES ")]
    if done.returncode != 0 or not lines:
        raise AutoscaleError(f"cannot read the cluster's requests: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return int(lines[-1])


def cluster_mark() -> re.Pattern:
    """What names this cluster's processes: its temp dir, and its head's address — the Ray Client server that
    `ray start --head` starts (port 10001) names only the address (`--address=IP:PORT`), not the temp dir."""
    address = STATE / "address"
    if not address.exists():
        return MARK
    return re.compile(f"{MARK.pattern}|{re.escape(address.read_text().strip())}(?!\\d)")


def down() -> int:
    """End this cluster's processes (head, autoscaler, Ray Client server, every worker node it started), and only
    then forget its address."""
    mark = cluster_mark()
    ended = processes.stop_processes(mark)
    left = processes.cluster_processes(mark)
    if left:
        raise AutoscaleError(f"{len(left)} processes of the cluster outlived SIGKILL: {left[0].pid}")
    (STATE / "address").unlink(missing_ok=True)
    return ended


VERBS = ("up", "env", "status", "down")


def add_arguments(parser: argparse.ArgumentParser, verb: bool = True) -> None:
    if verb:
        parser.add_argument("verb", choices=VERBS)
    parser.add_argument("--max-workers", type=int, default=MAX_WORKERS,
                        help=f"up: workers at most, 1 to cluster.yaml's max_workers (default {MAX_WORKERS})")
    parser.add_argument("--idle-timeout-minutes", type=float, default=IDLE_TIMEOUT_MINUTES,
                        help=f"up: minutes before an idle worker leaves, at most cluster.yaml's "
                             f"(default {IDLE_TIMEOUT_MINUTES:g})")


def run(args: argparse.Namespace) -> int:
    """One verb on this cluster; an error is one line (exit 1)."""
    try:
        if args.verb == "up":
            lowered = up(args.max_workers, args.idle_timeout_minutes)
            print(f"autoscaling cluster up at {driver_env()['RAY_ADDRESS']}, no worker yet; from cluster.yaml, "
                  f"lowered for this machine: {lowered.describe()}")
        elif args.verb == "env":
            print("\n".join(f"export {k}={v}" for k, v in driver_env().items()))
        elif args.verb == "status":
            print(json.dumps(nodes()))
        else:
            print(f"autoscaling cluster down: {down()} processes ended, none left")
    except (AutoscaleError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sweeps.cluster.autoscaling", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
