"""Embedded demo data: every course dataset at tiny scale, generated deterministically from a seed.

Images (also as CIFAR-100's 32 x 32 pickles): each class is a coloured shape (hue, shape and texture differ per
class) at a random position and scale on a noisy background of a second class colour, so a few epochs learn them
even from random weights. Text: each class owns a few keywords, two or three in every text among filler words.
Same names and class counts as the course's datasets; the files are written in the real layouts (ImageFolder JPEGs,
train.csv / test.csv, cifar-100-python/) so the demo runs exactly the code real data runs.
"""
from __future__ import annotations

import colorsys
import csv
from pathlib import Path

import numpy as np

from core.registry import DATASETS
from trainables.data.kinds import data_kind

IMAGE_SIZE = 72
IMAGES_PER_CLASS = {"train": 8, "test": 4}
TEXTS_PER_CLASS = {"train": 16, "test": 6}
CIFAR_PER_CLASS = {"train": 6, "test": 2}  # x 100 classes
MARKER = "DEMO_DATA.txt"
_FILLER = ("the a of and to in is it that was for on with as by this at from but not are be have one all "
           "about more some time when what which their there people would could other than first new").split()


def draw_image(rng: np.random.RandomState, label: int, n_classes: int, size: int = IMAGE_SIZE):
    from PIL import Image, ImageDraw

    # two colour cues per class: the shape's hue, and a dark background of another hue (the golden-ratio step puts
    # neighbouring labels far apart), both with noise; shape, position, size and stripes vary on top
    background = np.array(colorsys.hsv_to_rgb((label * 0.618034) % 1.0, 0.7, 0.4)) * 255
    noise = rng.randint(-30, 30, (size, size, 3))
    image = Image.fromarray(np.clip(background + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    hue = (label / n_classes + rng.uniform(-0.005, 0.005)) % 1.0
    colour = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 0.95))
    radius = rng.randint(size // 4, int(size / 2.5))
    cx, cy = rng.randint(radius, size - radius, size=2)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    shape = label % 3
    if shape == 0:
        draw.ellipse(box, fill=colour)
    elif shape == 1:
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)
    for k in range(label % 4):  # stripes: a texture cue that separates classes of similar hue
        y = int(size * (k + 1) / 5)
        draw.line((0, y, size, y), fill=(255 - colour[0], 255 - colour[1], 255 - colour[2]), width=2)
    return image


def write_images(root: Path, n_classes: int, rng: np.random.RandomState) -> None:
    """An ImageFolder of the drawings, its files named after the dataset (root's name)."""
    for split, per_class in IMAGES_PER_CLASS.items():
        for label in range(n_classes):
            folder = root / split / f"class_{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                draw_image(rng, label, n_classes).save(folder / f"{root.name}_{i:03d}.jpg", quality=90)


def write_texts(root: Path, n_classes: int, rng: np.random.RandomState) -> None:
    keywords = [[f"w{label}k{j}" for j in range(4)] for label in range(n_classes)]
    root.mkdir(parents=True, exist_ok=True)
    for split, per_class in TEXTS_PER_CLASS.items():
        rows = []
        for label in range(n_classes):
            for _ in range(per_class):
                words = list(rng.choice(_FILLER, rng.randint(4, 10)))
                for word in rng.choice(keywords[label], rng.randint(2, 4)):
                    words.insert(rng.randint(0, len(words) + 1), word)
                rows.append((" ".join(words), f"label_{label:02d}"))
        rows = [rows[i] for i in rng.permutation(len(rows))]
        with open(root / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(rows)


def generate_demo(root: str | Path, seed: int = 0) -> Path:
    """Write every course dataset under `root/<name>` (skipped when already generated with this seed)."""
    root = Path(root)
    marker = root / MARKER
    datasets = ", ".join(f"{d.name}/{d.kind}/{d.n_classes}" for d in DATASETS)  # a newly registered one: regenerate
    stamp = f"groupsweep demo data v3, seed {seed}: generated, not real; numbers from it mean nothing.\n{datasets}\n"
    if marker.exists() and marker.read_text() == stamp:
        return root
    for index, spec in enumerate(DATASETS):
        rng = np.random.RandomState(seed * 1000 + index)
        data_kind(spec.kind).write_demo(root / spec.name, spec.n_classes, rng)
    marker.write_text(stamp)
    return root


if __name__ == "__main__":
    import sys

    print(generate_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-data"))
