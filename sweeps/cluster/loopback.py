"""The loopback cluster of cluster.local.yaml: a real `ray up` of a head and two logical-GPU workers on this
machine, over SSH to 127.0.0.x. The cluster tests and bench/cluster_up.py use it; so can a user who wants to try
cluster mode on a laptop:

    python -m sweeps.cluster.loopback up      # sshd + token + ray up, then wait until both workers joined
    python -m sweeps.cluster.loopback status
    python -m sweeps.cluster.loopback down    # ends this cluster's processes, and only them

`down` does not run `ray down`: that runs a bare `ray stop` on the head, which ends every Ray process on the
machine (a local sweep's too). Every node of this cluster has its own temp dir (`/tmp/ray-<node ip>`, set in
cluster.local.yaml's start commands), which each of its daemons and `ray start` names on its command line; `down`
ends those processes and their descendants (workers retitle themselves `ray::...` and lose their arguments), then
`ray down --workers-only` marks the nodes released in the on-prem provider's state (it touches no process).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sweeps.cluster import processes

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "cluster.local.yaml"
HEAD = "127.0.0.10:6379"
WORKERS = ("127.0.0.2", "127.0.0.3")
NODE_IPS = (HEAD.split(":")[0], *WORKERS)
# a node's temp dir on a command line (/tmp/ray-127.0.0.2 but not /tmp/ray-127.0.0.20)
TEMP_DIR_MARK = re.compile("/tmp/ray-(?:%s)(?![0-9.])" % "|".join(re.escape(ip) for ip in NODE_IPS))
NODE_CHECKOUT = Path.home() / "groupsweep"  # where cluster.local.yaml's file_mounts put the project on a node


class LoopbackError(RuntimeError):
    """The loopback cluster could not be brought up or down; the message says which step failed."""


def cluster_env() -> dict[str, str]:
    """The environment of `ray up` and of drivers: token auth, and the v1 autoscaler (see cluster.local.yaml)."""
    return dict(os.environ, RAY_AUTH_MODE="token", RAY_UP_enable_autoscaler_v2="0")


def _run(*cmd: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    # from the project root: cluster.local.yaml mounts "." on every node
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=cluster_env(), cwd=ROOT)
    if check and done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        # `ray up` ends with "Failed to setup head node"; the cause (a setup command's error) is further up
        causes = [line for line in lines[:-5] if "rror" in line or "failed" in line.lower()][-3:]
        raise LoopbackError(f"{' '.join(cmd[:3])} failed (exit {done.returncode}): {' | '.join(causes + lines[-5:])}")
    return done


def _ray(*args: str, **kw) -> subprocess.CompletedProcess:
    return _run(str(Path(sys.executable).parent / "ray"), *args, **kw)


def provision_nodes() -> None:
    """The nodes are this machine: give the node checkout this project's environment, so `make venv` there is
    a no-op instead of a second multi-gigabyte install (a real node builds its own)."""
    _run(str(ROOT / "scripts" / "loopback_sshd.sh"), timeout=900)
    NODE_CHECKOUT.mkdir(exist_ok=True)
    venv, link = Path(sys.prefix), NODE_CHECKOUT / ".venv"
    if link.is_symlink() and link.resolve() != venv.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(venv, target_is_directory=True)
    _ray("get-auth-token", "--generate")


def nodes() -> list[dict]:
    """Alive nodes as {ip, gpus, cpus}, asked from a separate process (this one must not join the cluster)."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
            "print('NODES', json.dumps([{'ip': n['NodeManagerAddress'], 'gpus': n['Resources'].get('GPU', 0), "
            "'cpus': n['Resources'].get('CPU', 0)} for n in ray.nodes() if n['Alive']]))" % HEAD)
    done = _run(sys.executable, "-c", code, timeout=120, check=False)
    # the autoscaler's event lines reach this driver's stdout too: take ours by its tag
    lines = [line[len("NODES "):] for line in done.stdout.splitlines() if line.startswith("NODES ")]
    return json.loads(lines[-1]) if done.returncode == 0 and lines else []


def wait_ready(workers: int = 2, timeout: float = 300) -> list[dict]:
    """Poll until `workers` GPU workers have joined (`ray up` returns before they have)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = nodes()
        if sum(1 for n in alive if n["gpus"] >= 1) >= workers:
            return alive
        time.sleep(2)
    raise LoopbackError(f"{workers} GPU workers did not join {HEAD} within {timeout:.0f} s (ray status to see why)")


def up() -> float:
    """Bring the cluster up; seconds from `ray up` to a ready cluster."""
    provision_nodes()
    if cluster_processes():  # a cluster of ours left over (start commands never `ray stop`): start from nothing
        down()
    t0 = time.time()
    _ray("up", "-y", "--no-config-cache", str(CONFIG), timeout=900)
    wait_ready()
    return time.time() - t0


def cluster_processes() -> list:
    """This cluster's live processes (psutil.Process): those naming one of its nodes' temp dirs, and descendants."""
    return processes.cluster_processes(TEMP_DIR_MARK)


def stop_processes(grace: float = 5) -> int:
    """End this cluster's processes (SIGTERM, then SIGKILL); returns how many were ended."""
    return processes.stop_processes(TEMP_DIR_MARK, grace)


def down() -> None:
    """End this cluster's processes (and no other: see the module docstring), then release its nodes in the
    provider's state so the next `ray up` starts them anew."""
    stop_processes()
    _ray("down", "-y", "--workers-only", str(CONFIG), timeout=300)
    left = cluster_processes()
    if left:
        raise LoopbackError(f"{len(left)} processes of the cluster outlived SIGKILL: {left[0].pid} "
                            f"{' '.join(left[0].cmdline())[:160]}")


VERBS = ("up", "down", "status")


def run(verb: str) -> int:
    """One verb on this cluster; an error is one line (exit 1)."""
    try:
        if verb == "up":
            print(f"loopback cluster ready in {up():.1f} s: {json.dumps(nodes())}")
        elif verb == "down":
            down()
            print("loopback cluster down; none of its processes is left")
        else:
            print(json.dumps(nodes()) if nodes() else f"no cluster at {HEAD}")
    except (LoopbackError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    verb = sys.argv[1] if len(sys.argv) > 1 else "status"
    if verb not in VERBS:
        sys.exit(f"usage: python -m sweeps.cluster.loopback {'|'.join(VERBS)}")
    sys.exit(run(verb))


if __name__ == "__main__":
    main()
