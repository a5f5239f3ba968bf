"""Feature extraction throughput: groupsweep's extractor (decode once into uint8 tensors, channels_last,
inference_mode) vs a plain torchvision inference loop (ImageFolder + DataLoader + model under no_grad) over the
same images, both timed end to end from JPEG files to features.

    python bench/extract_speed.py [--model mobilenet_v2] [--per-class 10] [--threads 2]

Prints images/s for both and the ratio.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import shared_data


def subset(root: Path, per_class: int) -> Path:
    """A train-only ImageFolder of the first `per_class` images of every class, as links (nothing copied)."""
    out = Path(tempfile.mkdtemp(prefix="extract_bench_"))
    for class_dir in sorted((root / "train").iterdir()):
        (out / "train" / class_dir.name).mkdir(parents=True)
        (out / "test" / class_dir.name).mkdir(parents=True)
        files = sorted(class_dir.iterdir())[:per_class + 1]
        for f in files[:per_class]:
            (out / "train" / class_dir.name / f.name).symlink_to(f)
        (out / "test" / class_dir.name / files[-1].name).symlink_to(files[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from torchvision import datasets, models, transforms

    from trainables.images import backbones
    from trainables.images.data import load_image_data, resize_size
    from trainables.images.features import extract
    from trainables.images.specs import backbone_spec

    torch.set_num_threads(args.threads)
    root = subset(shared_data("images", "caltech101"), args.per_class)
    spec = backbone_spec(args.model)
    size, device = spec.input_size, torch.device("cpu")

    # Warm both models once so neither pays first-call allocation costs inside its timing.
    ours_model = backbones.feature_extractor(args.model, "random").to(memory_format=torch.channels_last)
    plain_model = models.get_model(args.model, weights=None)
    backbones.set_module(plain_model, spec.head, torch.nn.Identity())
    plain_model.eval()
    with torch.no_grad():
        ours_model(torch.zeros(2, 3, size, size).contiguous(memory_format=torch.channels_last))
        plain_model(torch.zeros(2, 3, size, size))

    t0 = time.perf_counter()
    _, train, _ = load_image_data(root, size, {}, seed=0)
    ours = extract(ours_model, train, device, args.batch_size)
    ours_s = time.perf_counter() - t0

    folder = datasets.ImageFolder(str(root / "train"), transforms.Compose([
        transforms.Resize(resize_size(size)), transforms.CenterCrop(size), transforms.ToTensor(),
        transforms.Normalize(backbones.IMAGENET_MEAN, backbones.IMAGENET_STD)]))
    t0 = time.perf_counter()
    with torch.no_grad():
        plain = torch.cat([plain_model(x) for x, _ in torch.utils.data.DataLoader(folder, batch_size=args.batch_size)])
    plain_s = time.perf_counter() - t0

    n = len(ours)
    assert plain.shape == ours.shape, (plain.shape, ours.shape)
    print(f"{args.model}, {n} caltech101 images at {size} px, {args.threads} threads, batch {args.batch_size}")
    print(f"groupsweep extractor : {n / ours_s:6.1f} img/s ({ours_s:.1f} s, decode included)")
    print(f"plain torchvision    : {n / plain_s:6.1f} img/s ({plain_s:.1f} s)")
    print(f"ratio (groupsweep / plain images per second): {plain_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
