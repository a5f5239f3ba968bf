"""The loopback cluster of cluster.local.yaml: a real `ray up` of a head and two logical-GPU workers on this
machine, over SSH to 127.0.0.x. The cluster tests and bench/cluster_up.py use it; so can a user who wants to try
cluster mode on a laptop:

    python -m sweeps.loopback up      # sshd + token + ray up, then wait until both workers joined
    python -m sweeps.loopback status
    python -m sweeps.loopback down    # ray down; no Ray process is left on the machine

`ray down` (like `ray stop`) ends every Ray process on the machine, local sweeps included.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "cluster.local.yaml"
HEAD = "127.0.0.10:6379"
WORKERS = ("127.0.0.2", "127.0.0.3")
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
    if ray_processes():  # start commands do not `ray stop` (it would end every Ray here): start from nothing
        down()
    t0 = time.time()
    _ray("up", "-y", "--no-config-cache", str(CONFIG), timeout=900)
    wait_ready()
    return time.time() - t0


def ray_processes() -> list[str]:
    """Live Ray processes on this machine (zombies excluded: they are gone, only not yet reaped)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        command = " ".join(proc.info["cmdline"] or [proc.info["name"] or ""])
        if proc.info["name"] in ("raylet", "gcs_server") or "ray::" in command or "default_worker.py" in command \
                or "bin/ray start" in command:
            found.append(f"{proc.pid} {command[:160]}")
    return found


def _wait_gone(seconds: float) -> bool:
    deadline = time.time() + seconds
    while ray_processes() and time.time() < deadline:
        time.sleep(1)
    return not ray_processes()


def down(timeout: float = 60) -> None:
    """`ray down`, then wait until no Ray process is left on this machine. A worker the autoscaler was just
    (re)starting can outlive the head's `ray stop`; on loopback every node is here, so a forced stop ends it."""
    _ray("down", "-y", str(CONFIG), timeout=300)
    if not _wait_gone(timeout / 2):
        _ray("stop", "--force", check=False, timeout=120)
        subprocess.run(["pkill", "-9", "-f", "bin/ray start"], check=False)
    if not _wait_gone(timeout / 2):
        raise LoopbackError(f"ray down left {len(ray_processes())} Ray processes: {ray_processes()[0]}")


def main() -> None:
    verb = sys.argv[1] if len(sys.argv) > 1 else "status"
    try:
        if verb == "up":
            print(f"loopback cluster ready in {up():.1f} s: {json.dumps(nodes())}")
        elif verb == "down":
            down()
            print("loopback cluster down; no Ray process left")
        elif verb == "status":
            print(json.dumps(nodes()) if nodes() else f"no cluster at {HEAD}")
        else:
            sys.exit("usage: python -m sweeps.loopback up|down|status")
    except (LoopbackError, subprocess.TimeoutExpired) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
