"""finetune / finetune_aug: replace the head with an n_classes Linear and retrain with SGD + cross-entropy.

One trainable for both methods: augmentation is a flag of the method (METHODS[...].augment) and a policy name in
the search space. The handout's modes are search values: `head` (backbone frozen, in eval mode), `head_lr` (all
layers, head at lr x head_lr_mult), `last3` (last three weight layers), `all`. Head-only without augmentation
trains the new Linear on the cached penultimate features — the same computation as running the frozen backbone
every epoch, without running it. Reports every epoch with a checkpoint and resumes from `tune.get_checkpoint()`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from trainables.common import skipped_facts
from trainables.images import backbones
from trainables.images.data import (Split, augmentation, batches, check_image_folder, load_image_data,
                                    split_train)
from trainables.images.features import image_features
from trainables.hparams import SCHEDULES
from trainables.images.specs import backbone_spec
from trainables.registry import METHODS
from trainables.loop import fit
from trainables.trial import Trial


def make_scheduler(optimizer, name: str, epochs: int):
    import torch

    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if name == "step":  # x0.1 at two thirds of training
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, (2 * epochs) // 3), gamma=0.1)
    if name == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    raise ValueError(f"params.schedule: unknown schedule {name!r}; expected one of {SCHEDULES}")


@dataclass
class ImageLearner:
    """A model, its optimiser and how to batch a split for it: the full network on images, or a head on features."""

    model: Any
    optimizer: Any
    scheduler: Any
    device: Any
    to_batches: Callable[[Split, bool], Iterator]
    generator: Any  # the shuffling RNG, checkpointed so a resumed trial sees the same batches
    clip: float | None = None  # the gradient's largest norm per step (params.clip); None: unclipped

    def train_epoch(self, split: Split) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        backbones.set_train_mode(self.model)  # frozen layers stay in eval mode (BatchNorm statistics, dropout)
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in self.to_batches(split, True):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                out = self.model(x)
                # Models with an auxiliary head (Inception) return (logits, aux_logits) while training.
                logits, aux = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
                loss = F.cross_entropy(logits, y) + (0.4 * F.cross_entropy(aux, y) if aux is not None else 0.0)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        self.scheduler.step()
        return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "items": seen}

    def scores(self, split: Split) -> np.ndarray:
        """Class probabilities (softmax of the logits), one row per example."""
        import torch

        self.model.eval()
        with torch.inference_mode(), torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            rows = [torch.softmax(self.model(x).float(), 1).cpu().numpy() for x, _ in self.to_batches(split, False)]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def snapshot(self) -> dict:
        # Frozen parameters are rebuilt from the weights and the trial's seed; buffers (BatchNorm statistics)
        # move even when frozen, so they are kept.
        trained = {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}
        return trained | {n: b.clone() for n, b in self.model.named_buffers()}

    def restore(self, snapshot: dict) -> None:
        missing = self.model.load_state_dict(snapshot, strict=False).missing_keys
        if any(self.model.get_parameter(k).requires_grad for k in missing):
            raise RuntimeError("checkpoint lacks trained weights; cannot resume")

    def save(self, folder: Path) -> None:
        import torch

        torch.save({"model": self.snapshot(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "generator": self.generator.get_state()},
                   folder / "state.pt")

    def load(self, folder: Path) -> None:
        import torch

        state = torch.load(folder / "state.pt", map_location=self.device, weights_only=False)
        self.restore(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])


def _sgd(trial: Trial, groups: list[dict], epochs: int):
    import torch

    p = trial.params
    optimizer = torch.optim.SGD(groups, lr=float(p["lr"]), momentum=float(p["momentum"]),
                                weight_decay=float(p["weight_decay"]))
    return optimizer, make_scheduler(optimizer, p.get("schedule", "cosine"), epochs)


def network_learner(trial: Trial, dataset_dir: Path, classes: list[str], size: int, epochs: int, generator):
    """The whole network on cached uint8 images (any mode, with or without augmentation)."""
    import torch

    name, params = trial.cell.model, trial.params
    spec, method = backbone_spec(name), METHODS.get(trial.cell.method)
    device = backbones.pick_device()
    transform = augmentation(params.get("augment", "flip_crop") if method.augment else "none", size)
    def load(source: bool):
        return load_image_data(dataset_dir, size, trial.spec.images, trial.spec.data_seed, trial.spec.cache_dir,
                               trial.spec.data.fingerprint, source=source, layout=trial.layout)

    with trial.phase("extract"):  # decoding + resizing happen once per dataset and size (tensor cache)
        _, train, test = load(False)  # the evaluation preset: validation and test see these
        # Augmented training crops from the uncropped central square of the same (capped) images.
        source = load(True)[1] if transform is not None else None
    model = backbones.classifier(name, len(classes), trial.spec.weights, size)
    model = model.to(device, memory_format=torch.channels_last)
    if trial.spec.weights == "random":  # scales that train (the same batch every build: resumes rebuild it)
        backbones.unit_variance_init(model, next(batches(train, 32, device))[0])
    groups = backbones.param_groups(model, spec, params["mode"], float(params["lr"]), float(params["head_lr_mult"]))
    optimizer, scheduler = _sgd(trial, groups, epochs)
    batch_size, workers = int(params["batch_size"]), trial.cpus - 1  # one core trains, the rest augment

    def to_batches(split: Split, train_mode: bool):
        return batches(split, batch_size, device, shuffle=train_mode, transform=transform if train_mode else None,
                       generator=generator, drop_singleton=train_mode, workers=workers if train_mode else 0)

    learner = ImageLearner(model, optimizer, scheduler, device, to_batches, generator, params.get("clip"))
    return learner, train, test, source, backbones.describe_device(device), train.skipped + test.skipped


def head_learner(trial: Trial, dataset_dir: Path, classes: list[str], size: int, epochs: int, generator):
    """Head-only without augmentation: a new Linear trained on the cached penultimate features."""
    import torch

    with trial.phase("extract"):
        feats, _ = image_features(trial, dataset_dir, size)
    head = torch.nn.Linear(feats["train_x"].shape[1], len(classes))
    optimizer, scheduler = _sgd(trial, [{"params": head.parameters(), "lr": float(trial.params["lr"])}], epochs)
    batch_size, device = int(trial.params["batch_size"]), torch.device("cpu")

    def to_batches(split: Split, train_mode: bool):
        order = torch.randperm(len(split), generator=generator) if train_mode else torch.arange(len(split))
        x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        for start in range(0, len(split), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]

    train = Split(feats["train_x"], feats["train_y"])
    test = Split(feats["test_x"], feats["test_y"])
    learner = ImageLearner(head, optimizer, scheduler, device, to_batches, generator)
    return learner, train, test, None, "cpu", list(feats["skipped"])


def run(dataset_dir: Path, trial: Trial) -> None:
    import torch

    torch.set_num_threads(trial.cpus)
    torch.manual_seed(trial.seed)  # before building: random weights and new heads are part of the trial's seed
    params = trial.params
    size = backbone_spec(trial.cell.model).size_for(trial.spec.images.image_size)
    epochs = trial.spec.epochs
    generator = torch.Generator().manual_seed(trial.seed)
    on_features = params["mode"] == "head" and not METHODS.get(trial.cell.method).augment
    build = head_learner if on_features else network_learner
    # sorted class folders: the label order of every split and cache
    classes = check_image_folder(dataset_dir, trial.layout)
    learner, train_full, test, source, trial.device, skipped = build(trial, dataset_dir, classes, size, epochs,
                                                                     generator)
    train, val = split_train(train_full, trial.spec.val_fraction, trial.spec.data_seed)
    if source is not None:  # the same training images, at the augmentation's source size
        train = split_train(source, trial.spec.val_fraction, trial.spec.data_seed)[0]
    trial.values |= skipped_facts("skipped_images", skipped) | {"trained_on_features": on_features,
                     "classes": json.dumps(classes)}

    fit(trial, learner, train, val, test, epochs, patience=params.get("patience"))
