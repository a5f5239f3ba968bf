"""ImageFolder data for Part 1: preflight checks (driver side, no torch), decoding once into uint8 tensors,
augmentation presets on tensors, and batching with ImageNet normalisation.

Layout: `<root>/{train,test}/<class>/<image>`. Images are decoded and resized once per trial into a uint8 tensor,
so epochs never touch PIL again; augmentation runs per sample on those tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from trainables.common import DataError, cap_per_class, stratified_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
AUGMENTATIONS = ("none", "flip_crop", "flip_crop_color", "flip_crop_color_affine")


def list_images(root: Path, split: str) -> dict[str, list[Path]]:
    """class name -> sorted image files of one split; raises DataError for a missing or empty split/class."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing folder; expected ImageFolder layout <root>/{split}/<class>/<image>")
    classes = sorted(d for d in split_dir.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{split_dir}: no class folders; expected <root>/{split}/<class>/<image>")
    files = {}
    for class_dir in classes:
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise DataError(f"{class_dir}: empty class folder; expected at least one image ({', '.join(IMAGE_EXTENSIONS)})")
        files[class_dir.name] = images
    return files


def check_image_folder(root: Path) -> list[str]:
    """Preflight for the driver: both splits present, no empty class, every test class also in train."""
    train, test = list_images(root, "train"), list_images(root, "test")
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise DataError(f"{root / 'test'}: classes {unknown} have no training folder in {root / 'train'}")
    return sorted(train)


def decode(path: Path, size: int):
    """One image as a 3 x size x size uint8 tensor (RGB, resized to the model's input size)."""
    import torch
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image ({type(exc).__name__}: {str(exc)[:120]})") from None
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)


@dataclass
class Split:
    x: "object"  # torch uint8 tensor N x 3 x H x W
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def _load_split(root: Path, split: str, classes: list[str], size: int, cap: int | None, seed: int) -> Split:
    import torch

    files = list_images(root, split)
    paths = [p for c in classes for p in files.get(c, [])]
    labels = np.array([i for i, c in enumerate(classes) for _ in files.get(c, [])], dtype=np.int64)
    keep = cap_per_class(labels, cap, seed)
    x = torch.stack([decode(paths[i], size) for i in keep]) if len(keep) else torch.zeros(0, 3, size, size)
    return Split(x.contiguous(memory_format=torch.channels_last), labels[keep])


def load_image_data(root: Path, size: int, images_budget: dict, seed: int) -> tuple[list[str], Split, Split]:
    """Decode the (capped) train and test splits once, at `size` x `size`: (classes, train, test)."""
    classes = check_image_folder(root)
    train = _load_split(root, "train", classes, size, images_budget.get("max_train_per_class"), seed)
    test = _load_split(root, "test", classes, size, images_budget.get("max_test_per_class"), seed)
    return classes, train, test


def split_train(train: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve a stratified validation split from train; test stays untouched until the final number."""
    keep, held = stratified_split(train.y, val_fraction, seed)
    return Split(train.x[keep], train.y[keep]), Split(train.x[held], train.y[held])


def augmentation(policy: str, size: int):
    """A per-sample augmentation on uint8 tensors: torchvision v2 transforms, selected by name."""
    from torchvision.transforms import v2

    if policy not in AUGMENTATIONS:
        raise ValueError(f"params.augment: unknown policy {policy!r}; expected one of {AUGMENTATIONS}")
    steps = []
    if policy != "none":
        steps += [v2.RandomHorizontalFlip(), v2.RandomCrop(size, padding=size // 8, padding_mode="reflect")]
    if "color" in policy:
        steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
    if "affine" in policy:
        steps.append(v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    return v2.Compose(steps) if steps else None


def batches(split: Split, batch_size: int, device, shuffle: bool = False, transform=None,
            generator=None, drop_singleton: bool = False) -> Iterator[tuple["object", "object"]]:
    """Normalised float batches (channels_last) and labels on `device`."""
    import torch

    from trainables.images.backbones import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    order = torch.randperm(len(split), generator=generator) if shuffle else torch.arange(len(split))
    labels = torch.from_numpy(split.y)
    for start in range(0, len(split), batch_size):
        idx = order[start:start + batch_size]
        if drop_singleton and len(idx) == 1:  # BatchNorm cannot train on a batch of one
            break
        x = split.x[idx]
        if transform is not None:
            x = torch.stack([transform(img) for img in x])
        x = (x.to(device, non_blocking=True).float() - mean) / std
        yield x.contiguous(memory_format=torch.channels_last), labels[idx].to(device)
