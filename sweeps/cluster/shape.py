"""The shape of the cluster a sweep runs on, read from its autoscaling config (no Ray needed): the worker types the
autoscaler may start, how many trials each holds, and the largest cluster it may build — for the trials'
placement and the up-front request (sweeps.launch) and the dry run's count of busy workers (sweeps.cost.estimate)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.cluster_use import slots

AUTOSCALING_CONFIG_ENV = "GROUPSWEEP_AUTOSCALING_CONFIG"  # set by sweeps.cluster.autoscaling for its drivers
SHIPPED = Path(__file__).resolve().parents[2] / "cluster.yaml"


@dataclass(frozen=True)
class NodeType:
    """A worker type the cluster's autoscaler may start."""

    name: str
    resources: dict[str, float]
    max_workers: int


def autoscaling_config() -> dict:
    """The cluster's autoscaling config — $GROUPSWEEP_AUTOSCALING_CONFIG (sweeps.cluster.autoscaling), else
    ~/ray_bootstrap_config.yaml, where `ray up` leaves it on the head that runs the driver — or {} (a fixed
    cluster)."""
    import yaml

    path = Path(os.environ.get(AUTOSCALING_CONFIG_ENV) or Path.home() / "ray_bootstrap_config.yaml")
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def addable_nodes(config: dict) -> list[NodeType]:
    """The worker types the autoscaler may start (none may be running yet: a cluster scales from zero)."""
    head, cap = config.get("head_node_type"), int(config.get("max_workers", 0) or 0)
    types = [NodeType(name, dict(spec.get("resources") or {}), min(int(spec.get("max_workers", cap) or 0), cap))
             for name, spec in (config.get("available_node_types") or {}).items() if name != head]
    return [t for t in types if t.max_workers > 0]


def largest_cluster_slots(config: dict, cpus: float, gpus: float) -> int:
    """The trial slots of the largest cluster the autoscaler may build: its max_workers, largest types first."""
    left, total = int(config.get("max_workers", 0) or 0), 0
    for node in sorted(addable_nodes(config), key=lambda t: -slots(t.resources, cpus, gpus)):
        count = min(node.max_workers, left)
        total, left = total + count * slots(node.resources, cpus, gpus), left - count
    return total


def shipped_cluster() -> dict:
    """cluster.yaml as shipped: the cluster a dry run counts workers for (the one a course will `ray up`)."""
    import yaml

    return yaml.safe_load(SHIPPED.read_text())


def this_machine() -> dict[str, float]:
    """What a local sweep gets on this machine, without Ray: its CPUs and its NVIDIA GPUs (the driver's entries under
    /proc/driver/nvidia/gpus, as many as CUDA_VISIBLE_DEVICES leaves visible)."""
    gpus_dir = Path("/proc/driver/nvidia/gpus")
    gpus = len(list(gpus_dir.iterdir())) if gpus_dir.is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = min(gpus, len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"]))
    return {"CPU": float(os.cpu_count() or 1), "GPU": float(gpus)}


def local_slots(machine: dict[str, float], cpus: float, gpus: float, trials: int,
                trial_hours: float | None = None, wall_s: float | None = None) -> str:
    """The dry run's line for a local sweep: this machine, how many trials run at once on it, and the wall time: the
    cost model's (`wall_s`: the trials in run order on the slots, with the sweep's own start and Ray's time per
    trial) where the CPU table priced every job, else the expected trial-hours spread over the slots."""
    at_once = slots(machine, cpus, gpus)
    gpu = f"{machine['GPU']:g} GPU" if machine["GPU"] else "no GPU"
    waves = -(-trials // max(at_once, 1))
    if wall_s is not None:
        wall = f"; about {wall_s / 60:.1f} min of wall time (the trials in run order on these slots)"
    elif trial_hours is not None:
        wall = f"; about {trial_hours / max(at_once, 1):.2f} h of wall time at the expected trial-hours"
    else:
        wall = ""
    return (f"this machine: {machine['CPU']:g} CPUs, {gpu}: {at_once} trial{'s' if at_once != 1 else ''} at a time "
            f"({cpus:g} CPU{f' + {gpus:g} GPU' if gpus else ''} each), {waves} wave{'s' if waves != 1 else ''}{wall}")
