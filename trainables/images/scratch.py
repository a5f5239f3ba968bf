"""scratch_cnn (PyTorch): the handout's warm-up — a small CNN trained from scratch on CIFAR-100 with SGD or Adam and
cross-entropy. The network is the NETS entry's facts (core.registry.NetSpec) built once per framework; the
Keras twin is trainables.images.scratch_keras, with the same data, search space and row schema.

Augmentation is a search value (`augment`: none or flip_crop = zero-pad 4 + random 32 x 32 crop + horizontal
flip, CIFAR's usual recipe), applied per batch on the trial's device. Epochs run through the shared loop
(trainables.loop.fit): report + checkpoint per epoch, early stopping on validation accuracy.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from trainables.images.cifar import PAD, for_trial
from trainables.images.data import Split
from trainables.images.finetune import ImageLearner, make_scheduler
from trainables.loop import run_epochs
from core.registry import NETS, NetSpec
from trainables.torch_learner import start_torch
from trainables.trial import Trial


def build(spec: NetSpec, n_classes: int, dropout: float):
    """len(channels) x (3x3 conv, same padding + ReLU + 2x2 max-pool), flatten, hidden Dense + ReLU, dropout, head."""
    layers, width = [], 3
    for channels in spec.channels:
        layers += [nn.Conv2d(width, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        width = channels
    side = spec.input_size // 2 ** len(spec.channels)
    layers += [nn.Flatten(), nn.Linear(width * side * side, spec.hidden), nn.ReLU(), nn.Dropout(dropout),
               nn.Linear(spec.hidden, n_classes)]
    return nn.Sequential(*layers)


def flip_crop(x, generator):
    """Zero-pad by PAD, take one random crop of the original size per image, flip half the images."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    dy, dx = torch.randint(0, 2 * PAD + 1, (2, n), generator=generator)
    cols = dx[:, None] + torch.arange(w)[None, :]
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a flipped image reads its crop's columns backwards
    rows = dy[:, None] + torch.arange(h)[None, :]
    # one gather for the whole batch, on the batch's device: (n, h, w, c) from padded[i, :, rows[i], cols[i]]
    index = [t.to(x.device) for t in (torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :])]
    crops = padded.permute(0, 2, 3, 1)[index[0], index[1], index[2]]
    return crops.permute(0, 3, 1, 2).contiguous()


def optimizer_for(model, params: dict):
    lr, decay = float(params["lr"]), float(params.get("weight_decay", 0.0))
    if params.get("optimizer", "sgd") == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=decay)
    if params.get("optimizer", "sgd") != "sgd":
        raise ValueError(f"params.optimizer: unknown optimizer {params['optimizer']!r}; expected sgd or adam")
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=float(params.get("momentum", 0.9)),
                           weight_decay=decay)


def run(dataset_dir: Path, trial: Trial) -> None:
    device = start_torch(trial)
    classes, splits, epochs = for_trial(dataset_dir, trial)
    train, val, test = (to_split(x, y) for x, y in splits)
    generator = torch.Generator().manual_seed(trial.seed)
    learner = make_learner(NETS.get(trial.job.model), len(classes), trial.params, epochs, device, generator)
    run_epochs(trial, learner, train, val, test, {
        "classes": json.dumps(classes), "parameters": int(sum(p.numel() for p in learner.model.parameters()))})


def to_split(x, y) -> Split:
    """Standardised N x H x W x 3 arrays (cifar.prepare) as the channel-first tensors torch convolves."""
    return Split(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), y)


def make_learner(net: NetSpec, n_classes: int, params: dict, epochs: int, device, generator) -> ImageLearner:
    """The network, its optimiser and schedule, and its batches (augmented per the `augment` value)."""
    model = build(net, n_classes, float(params["dropout"])).to(device)
    optimizer = optimizer_for(model, params)
    scheduler = make_scheduler(optimizer, params.get("schedule", "cosine"), epochs)
    batch_size, augment = int(params["batch_size"]), params.get("augment", "none") == "flip_crop"

    def to_batches(split: Split, train_mode: bool):
        order = torch.randperm(len(split), generator=generator) if train_mode else torch.arange(len(split))
        labels = torch.from_numpy(split.y)
        for start in range(0, len(split), batch_size):
            idx = order[start:start + batch_size]
            x = split.x[idx].to(device, non_blocking=True)
            yield (flip_crop(x, generator) if train_mode and augment else x), labels[idx].to(device)

    return ImageLearner(model, optimizer, device, generator, scheduler, to_batches=to_batches)
