"""finetune / finetune_aug: replace the head with an n_classes Linear and retrain with SGD + cross-entropy.

One trainable for both methods: augmentation is a flag of the method (METHODS[...].augment) and a policy name in
the search space. Reports every epoch with a checkpoint and resumes from `tune.get_checkpoint()`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.common import accuracy, classification_metrics
from trainables.report import flatten_metrics
from trainables.images import backbones
from trainables.images.data import Split, augmentation, batches, load_image_data, split_train
from trainables.registry import BACKBONES, METHODS
from trainables.trial import Trial


def train_epoch(model, split: Split, optimizer, device, batch_size: int, transform, generator) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in batches(split, batch_size, device, shuffle=True, transform=transform, generator=generator,
                        drop_singleton=True):
        out = model(x)
        # Models with an auxiliary head (Inception) return (logits, aux_logits) while training.
        logits, aux = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + 0.4 * F.cross_entropy(aux, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += float(loss) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "items": seen}


def predict(model, split: Split, device, batch_size: int = 64) -> np.ndarray:
    import torch

    model.eval()
    with torch.inference_mode():
        preds = [model(x).argmax(1).cpu().numpy() for x, _ in batches(split, batch_size, device)]
    return np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)


def trainable_state(model) -> dict:
    """What a checkpoint must hold: trained parameters and all buffers (BatchNorm statistics move even when
    frozen). Frozen parameters are rebuilt from the weights and the trial's seed, so they are not saved."""
    state = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    return state | {n: b for n, b in model.named_buffers()}


def run(dataset_dir: Path, trial: Trial) -> None:
    import torch

    torch.set_num_threads(trial.cpus)
    torch.manual_seed(trial.seed)
    name, params = trial.cell["model"], trial.params
    spec, method = BACKBONES.get(name), METHODS.get(trial.cell["method"])
    device = backbones.pick_device()
    trial.device = backbones.describe_device(device)
    size = backbones.input_size(name, trial.budget["images"]["image_size"])
    with trial.phase("extract"):  # decoding + resizing once; epochs then read uint8 tensors
        classes, train_full, test = load_image_data(dataset_dir, size, trial.budget["images"],
                                                    trial.spec["data_seed"])
    train, val = split_train(train_full, trial.budget["val_fraction"], trial.spec["data_seed"])

    model = backbones.classifier(name, len(classes), trial.spec["weights"], size)
    model = model.to(device, memory_format=torch.channels_last)
    groups = backbones.param_groups(model, spec, params["mode"], float(params["lr"]), float(params["head_lr_mult"]))
    optimizer = torch.optim.SGD(groups, lr=float(params["lr"]), momentum=float(params["momentum"]),
                                weight_decay=float(params["weight_decay"]))
    max_epochs = int(trial.spec["max_epochs"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    transform = augmentation(params.get("augment", "flip_crop") if method.augment else "none", size)
    generator = torch.Generator().manual_seed(trial.seed)
    batch_size = int(params["batch_size"])

    start = 0
    with trial.resume() as folder:
        if folder is not None:
            state = torch.load(folder / "state.pt", map_location=device, weights_only=False)
            missing = model.load_state_dict(state["model"], strict=False).missing_keys
            assert all(not model.get_parameter(k).requires_grad for k in missing), "checkpoint lacks trained weights"
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            start = state["epoch"]

    trained = 0
    for epoch in range(start + 1, max_epochs + 1):
        with trial.phase("fit"):
            stats = train_epoch(model, train, optimizer, device, batch_size, transform, generator)
            scheduler.step()
        trained += stats.pop("items")
        final = epoch == max_epochs
        splits = {"train": stats, "val": {"acc": accuracy(val.y, predict(model, val, device))}}
        if final:  # test is touched once, at the end
            splits["test"] = classification_metrics(test.y, predict(model, test, device))
        metrics = flatten_metrics(splits) | {"items_per_s": trained / max(trial.values.get("fit_s", 0.0), 1e-9)}

        def save(folder: Path, epoch: int = epoch) -> None:
            torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                        "epoch": epoch}, folder / "state.pt")

        trial.report_epoch(epoch, metrics, final, save=save)
