"""ImageFolder data for Part 1's trials: decoding once into cached uint8 tensors, torchvision's reference presets
on those tensors, and batching with ImageNet normalisation (the files, their checks and counts: images/files.py).

Layout: `<root>/{train,test}/<class>/<image>`. Each split is decoded and resized once per (dataset, size, caps)
into a uint8 tensor cached on disk, so epochs, trials and later sweeps never touch PIL again. The presets are
torchvision's `references/classification/presets.py`, per backbone input size: every method evaluates (and
extracts features from) Resize(size / 0.875) + CenterCrop(size); augmented training takes RandomResizedCrop(size) +
flip (+ the policy's colour / affine steps) per sample, from the same resized image's central square. A method's
searched `preset: handout` uses the course handout's Resize((size, size)) instead: the whole image squeezed,
nothing cropped (its augmented training crops from the whole image squeezed to resize_size(size)). Images are
decoded as they are (to_rgb): greyscale, palette, alpha and CMYK converted to RGB, 16-bit images scaled by their bit
depth, and an image whose value range the file does not say refused in the preflight (check_ranges). Files that
are not images or cannot be decoded, and hidden entries (.ipynb_checkpoints, .DS_Store), are skipped with a warning
and counted in the trial's row; class folder names are compared in Unicode NFC (class_name).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from trainables.cache import cache_key, cached
from trainables.common import DataError, cap_per_class, hidden, stratified_split
from trainables.data.layout import Layout
from trainables.images.files import (IMAGEFOLDER, RANGE_RULE, SIXTEEN_BIT, UnknownRange, check_image_folder,
                                     image_files, range_problem)
from core.hparams import AUGMENTATIONS
from core.plan import ImageCaps

DECODE_VERSION = 3  # bump when decoding changes: it is part of every cache key (2: the reference presets,
# 3: 16-bit images scaled, not clipped)
EVAL_CROP = 0.875  # torchvision references: evaluation resizes the shorter side to size / 0.875, crops the centre


def preset_of(params: dict) -> str:
    """A trial's image preset (core.hparams.PRESETS): its `preset` parameter, else torchvision's reference one."""
    return str(params.get("preset", "reference"))


def resize_size(size: int) -> int:
    """The shorter side evaluation resizes to before its centre crop (224 -> 256, 299 -> 342)."""
    return int(round(size / EVAL_CROP))


def to_rgb(image, path: Path):
    """An open image as 8-bit RGB with its values preserved: 16-bit integers scaled by their bit depth (65,535 ->
    255, the same for every image: never a per-image stretch, which would erase brightness differences between
    images), floats in [0, 1] by 255; palettes, alpha, CMYK and greyscale by Pillow. UnknownRange otherwise."""
    from PIL import Image

    problem = range_problem(image)
    if problem:
        raise UnknownRange(f"{path}: {problem}; expected {RANGE_RULE}")
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        grey = (np.asarray(image).astype(np.uint32) + 128) // 257  # round(v * 255 / 65535)
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        grey = np.round(np.asarray(image, dtype=np.float32) * 255.0)
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image  # L, P, RGBA, CMYK -> RGB

def decode(path: Path, size: int, crop: int | None = None, preset: str = "reference"):
    """One image as a 3 x crop x crop uint8 tensor, or None if unreadable: RGB (to_rgb), then by `preset`
    (core.hparams.PRESETS) — reference: its shorter side resized to resize_size(size) (aspect kept) and the centre
    `crop` (default `size`: the evaluation preset) cut out; handout: the whole image resized to `crop` x `crop`
    (the handout's Resize((224, 224)): squeezed, nothing cut). An image whose values have no known range raises
    UnknownRange: guessing one would be quietly wrong."""
    import torch
    from PIL import Image

    crop = crop or size
    try:
        with Image.open(path) as image:
            image.load()
            rgb = to_rgb(image, path)
            if preset == "handout":  # torchvision's Resize((h, w)) on a PIL image is this call
                rgb = rgb.resize((crop, crop), Image.BILINEAR)
            else:  # torchvision's Resize(int) and CenterCrop arithmetic, so the cache holds exactly what they give
                short, (width, height) = resize_size(size), rgb.size
                width, height = ((short, int(short * height / width)) if width <= height
                                 else (int(short * width / height), short))
                rgb = rgb.resize((width, height), Image.BILINEAR)
                left, top = int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))
                rgb = rgb.crop((left, top, left + crop, top + crop))
    except UnknownRange:
        raise
    except Exception as exc:  # PIL raises many types for broken files (OSError, SyntaxError, ValueError...)
        print(f"warning: {path}: skipped, cannot decode image ({type(exc).__name__}: {str(exc)[:100]})",
              file=sys.stderr)
        return None
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)


@dataclass
class Split:
    x: "object"  # torch uint8 tensor N x 3 x H x W (or a feature matrix)
    y: np.ndarray
    skipped: list[str] = field(default_factory=list)  # files left out, relative to the dataset root

    def __len__(self) -> int:
        return len(self.y)


def _decode_split(root: Path, split: str, classes: list[str], size: int, crop: int, cap: int | None,
                  seed: int, layout: Layout, preset: str) -> Split:
    import torch

    files, others = image_files(root, layout)[split]
    paths = [p for c in classes for p in files.get(c, [])]
    labels = np.array([i for i, c in enumerate(classes) for _ in files.get(c, [])], dtype=np.int64)
    keep = cap_per_class(labels, cap, seed)
    decoded = [(decode(paths[i], size, crop, preset), i) for i in keep]
    good = [(t, i) for t, i in decoded if t is not None]
    skipped = [paths[i] for t, i in decoded if t is None] + others
    for other in others:
        why = "hidden" if hidden(other.name) else "not an image file"
        print(f"warning: {other}: skipped, {why}", file=sys.stderr)
    x = torch.stack([t for t, _ in good]) if good else torch.zeros(0, 3, crop, crop, dtype=torch.uint8)
    return Split(x.contiguous(memory_format=torch.channels_last), labels[[i for _, i in good]],
                 [p.relative_to(root).as_posix() for p in skipped])


def load_image_data(root: Path, size: int, caps: ImageCaps, seed: int, cache_dir: Path | None = None,
                    fingerprint: str | None = None, source: bool = False, layout: Layout = IMAGEFOLDER,
                    preset: str = "reference") -> tuple[list[str], Split, Split]:
    """(classes, train, test) at the evaluation `preset`, `size` x `size`, through the on-disk tensor cache when
    given one; with `source`, the resize_size(size) square that augmented training crops from instead (the
    central one, or with the handout preset the whole image squeezed to it)."""
    import torch

    classes = check_image_folder(root, layout)
    crop = resize_size(size) if source else size
    out = []
    for split, cap in (("train", caps.max_train_per_class), ("test", caps.max_test_per_class)):
        key = cache_key(data=fingerprint, split=split, size=size, crop=crop, cap=cap, seed=seed,
                        version=DECODE_VERSION, held_out=layout.digest, preset=preset)
        path = Path(cache_dir or ".") / "images" / f"{key}.pt"
        value, _ = cached(path, lambda: _decode_split(root, split, classes, size, crop, cap, seed, layout, preset),
                          save=lambda s, handle: torch.save({"x": s.x, "y": s.y, "skipped": s.skipped}, handle),
                          load=lambda p: Split(**torch.load(p, weights_only=False)),
                          enabled=cache_dir is not None and fingerprint is not None)
        if len(value) == 0:
            raise DataError(f"{root / split}: no decodable image (skipped {len(value.skipped)})")
        out.append(value)
    return classes, out[0], out[1]


def split_train(train: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve a stratified validation split from train; test stays untouched until the final number."""
    keep, held = stratified_split(train.y, val_fraction, seed)
    return Split(train.x[keep], train.y[keep]), Split(train.x[held], train.y[held])


class Augment:
    """A named training preset (torchvision references' ClassificationPresetTrain, on uint8 tensors):
    RandomResizedCrop(size) + horizontal flip, plus colour jitter and a random affine for the longer policies. It
    runs per sample on the cached central square at resize_size(size) (load_image_data(source=True)), in
    DataLoader workers when the trial has spare CPUs."""

    def __init__(self, policy: str, size: int):
        from torchvision.transforms import v2

        if policy not in AUGMENTATIONS or policy == "none":
            raise ValueError(f"params.augment: unknown policy {policy!r}; expected one of {AUGMENTATIONS[1:]}")
        self.size = size
        steps = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        if "color" in policy:
            steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
        if "affine" in policy:
            steps.append(v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)))
        self.per_sample = v2.Compose(steps)


def augmentation(policy: str, size: int) -> Augment | None:
    return None if policy == "none" else Augment(policy, size)


class _PerSample:
    """Map-style dataset applying the per-sample part of an augmentation (for DataLoader workers)."""

    def __init__(self, x, transform):
        self.x, self.transform = x, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.transform(self.x[i])


def _uint8_batches(split: Split, order, batch_size: int, augment: Augment | None, workers: int) -> Iterator:
    """uint8 batches in `order`, augmented per sample (in `workers` processes when > 0)."""
    import torch

    per_sample = augment.per_sample if augment is not None else None
    if per_sample is not None and workers > 0:
        loader = torch.utils.data.DataLoader(_PerSample(split.x, per_sample), batch_size=batch_size,
                                             sampler=order.tolist(), num_workers=workers)
        chunks = iter(loader)
    else:
        chunks = (split.x[order[i:i + batch_size]] for i in range(0, len(order), batch_size))
        if per_sample is not None:
            chunks = (torch.stack([per_sample(img) for img in x]) for x in chunks)
    yield from chunks


def batches(split: Split, batch_size: int, device, shuffle: bool = False, transform=None, generator=None,
            drop_singleton: bool = False, workers: int = 0,
            channels_last: bool = True) -> Iterator[tuple["object", "object"]]:
    """Normalised float batches (channels_last unless told otherwise: bench/gpu_speed.py measures both) and labels
    on `device`; `workers` augment in parallel."""
    import torch

    from trainables.images.backbones import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    order = torch.randperm(len(split), generator=generator) if shuffle else torch.arange(len(split))
    labels = torch.from_numpy(split.y)
    chunks = _uint8_batches(split, order, batch_size, transform, workers)
    for start, x in zip(range(0, len(split), batch_size), chunks):
        idx = order[start:start + batch_size]
        if drop_singleton and len(idx) == 1:  # BatchNorm cannot train on a batch of one
            break
        x = (x.to(device, non_blocking=True).float() - mean) / std
        layout = torch.channels_last if channels_last else torch.contiguous_format
        yield x.contiguous(memory_format=layout), labels[idx].to(device)
