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

import torch

from trainables.common import skipped_facts
from trainables.images import backbones
from trainables.images.data import (Split, augmentation, batches, check_image_folder, load_image_data, preset_of,
                                    split_train)
from trainables.images.features import image_features
from core.hparams import SCHEDULES
from trainables.images.specs import backbone_spec
from core.registry import METHODS
from trainables.loop import run_epochs
from trainables.torch_learner import TorchLearner, start_torch
from trainables.trial import Trial


def make_scheduler(optimizer, name: str, epochs: int):
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if name == "step":  # x0.1 at two thirds of training
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, (2 * epochs) // 3), gamma=0.1)
    if name == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    raise ValueError(f"params.schedule: unknown schedule {name!r}; expected one of {SCHEDULES}")


@dataclass
class ImageLearner(TorchLearner):
    """An image model and how to batch a split for it: the full network on images, or a head on features. Frozen
    layers stay in evaluation mode, and its checkpoints hold what trains (plus buffers), not the frozen body."""

    to_batches: Callable[[Split, bool], Iterator] | None = None
    amp: bool = True

    def batches(self, split: Split, train: bool) -> Iterator[tuple[tuple, Any]]:
        for x, y in self.to_batches(split, train):
            yield (x,), y

    def train_mode(self) -> None:
        backbones.set_train_mode(self.model)  # frozen layers stay in eval mode (BatchNorm statistics, dropout)

    def snapshot(self) -> dict:
        # Frozen parameters are rebuilt from the weights and the trial's seed; buffers (BatchNorm statistics)
        # move even when frozen, so they are kept.
        trained = {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}
        return trained | {n: b.clone() for n, b in self.model.named_buffers()}

    def restore(self, snapshot: dict) -> None:
        missing = self.model.load_state_dict(snapshot, strict=False).missing_keys
        if any(self.model.get_parameter(k).requires_grad for k in missing):
            raise RuntimeError("checkpoint lacks trained weights; cannot resume")


def _sgd(trial: Trial, groups: list[dict]):
    p = trial.params
    optimizer = torch.optim.SGD(groups, lr=float(p["lr"]), momentum=float(p["momentum"]),
                                weight_decay=float(p["weight_decay"]))
    return optimizer, make_scheduler(optimizer, p.get("schedule", "cosine"), trial.spec.epochs)


def network_learner(trial: Trial, dataset_dir: Path, classes: list[str], size: int, device, generator):
    """The whole network on cached uint8 images (any mode, with or without augmentation)."""
    name, params = trial.job.model, trial.params
    spec, method = backbone_spec(name), METHODS.get(trial.job.method)
    transform = augmentation(params.get("augment", "flip_crop") if method.augment else "none", size)

    def load(source: bool):
        return load_image_data(dataset_dir, size, trial.spec.images, trial.spec.data_seed, trial.spec.cache_dir or None,
                               trial.spec.data.fingerprint, source=source, layout=trial.layout,
                               preset=preset_of(params))

    with trial.phase("extract"):  # decoding + resizing happen once per dataset and size (tensor cache)
        _, train, test = load(False)  # the evaluation preset: validation and test see these
        # Augmented training crops from the uncropped central square of the same (capped) images.
        source = load(True)[1] if transform is not None else None
    model = backbones.classifier(name, len(classes), trial.spec.weights, size)
    model = model.to(device, memory_format=torch.channels_last)
    if trial.spec.weights == "random":  # scales that train (the same batch every build: resumes rebuild it)
        backbones.unit_variance_init(model, next(batches(train, 32, device))[0])
    groups = backbones.param_groups(model, spec, params["mode"], float(params["lr"]), float(params["head_lr_mult"]))
    optimizer, scheduler = _sgd(trial, groups)
    batch_size, workers = int(params["batch_size"]), trial.cpus - 1  # one core trains, the rest augment

    def to_batches(split: Split, train_mode: bool):
        return batches(split, batch_size, device, shuffle=train_mode, transform=transform if train_mode else None,
                       generator=generator, drop_singleton=train_mode, workers=workers if train_mode else 0)

    learner = ImageLearner(model, optimizer, device, generator, scheduler, clip=params.get("clip"),
                           to_batches=to_batches)
    return learner, train, test, source, train.skipped + test.skipped


def head_learner(trial: Trial, dataset_dir: Path, classes: list[str], size: int, device, generator):
    """Head-only without augmentation: a new Linear trained on the cached penultimate features (on the CPU: a
    Linear layer over a few thousand rows gains nothing from a GPU). The row's device is where the features were
    extracted."""
    with trial.phase("extract"):
        feats, _ = image_features(trial, dataset_dir, size)
    trial.use_device(str(feats["device"]))  # where the backbone ran (and the GPU share the trial held), as features_svm
    head = torch.nn.Linear(feats["train_x"].shape[1], len(classes))
    optimizer, scheduler = _sgd(trial, [{"params": head.parameters(), "lr": float(trial.params["lr"])}])
    batch_size = int(trial.params["batch_size"])

    def to_batches(split: Split, train_mode: bool):
        order = torch.randperm(len(split), generator=generator) if train_mode else torch.arange(len(split))
        x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        for start in range(0, len(split), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]

    train = Split(feats["train_x"], feats["train_y"])
    test = Split(feats["test_x"], feats["test_y"])
    learner = ImageLearner(head, optimizer, torch.device("cpu"), generator, scheduler, to_batches=to_batches)
    return learner, train, test, None, list(feats["skipped"])


def run(dataset_dir: Path, trial: Trial) -> None:
    device = start_torch(trial)  # before building: random weights and new heads are part of the trial's seed
    params = trial.params
    size = backbone_spec(trial.job.model).size_for(trial.spec.images.image_size)
    trial.record(preset=preset_of(params), input_side=size)
    generator = torch.Generator().manual_seed(trial.seed)
    on_features = params["mode"] == "head" and not METHODS.get(trial.job.method).augment
    build = head_learner if on_features else network_learner
    # sorted class folders: the label order of every split and cache
    classes = check_image_folder(dataset_dir, trial.layout)
    learner, train_full, test, source, skipped = build(trial, dataset_dir, classes, size, device, generator)
    train, val = split_train(train_full, trial.spec.val_fraction, trial.spec.data_seed)
    if source is not None:  # the same training images, at the augmentation's source size
        train = split_train(source, trial.spec.val_fraction, trial.spec.data_seed)[0]
    run_epochs(trial, learner, train, val, test, skipped_facts("skipped_images", skipped)
               | {"trained_on_features": on_features, "classes": json.dumps(classes)})
