"""Fine-tune epoch data time: the tensor cache (decode once, augment uint8 tensors) vs torchvision ImageFolder +
PIL decoding every epoch, with the same augmentation (the reference preset: RandomResizedCrop + flip) and
normalisation, no model.

    python bench/epoch_data.py [--size 224] [--epochs 2] [--workers 0]

Prints seconds per epoch for both and the ratio.
"""
from __future__ import annotations

import argparse
import time

from common import shared_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="loader processes for both pipelines")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from torchvision import datasets, transforms

    from trainables.images.backbones import IMAGENET_MEAN, IMAGENET_STD
    from trainables.images.data import augmentation, batches, load_image_data, resize_size

    torch.set_num_threads(1)
    root = shared_data("images", "caltech101")
    size, device = args.size, torch.device("cpu")

    transform = augmentation("flip_crop", size)
    t0 = time.perf_counter()
    _, train, _ = load_image_data(root, size, {}, seed=0, source=True)  # what the cache holds (decoded once)
    decode_once = time.perf_counter() - t0
    cached = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        n = sum(len(y) for _, y in batches(train, args.batch_size, device, shuffle=True, transform=transform,
                                           workers=args.workers))
        cached.append(time.perf_counter() - t0)

    folder = datasets.ImageFolder(str(root / "train"), transforms.Compose([
        transforms.Resize(resize_size(size)), transforms.CenterCrop(resize_size(size)),
        transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]))
    loader = torch.utils.data.DataLoader(folder, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    plain = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        m = sum(len(y) for _, y in loader)
        plain.append(time.perf_counter() - t0)

    best_cached, best_plain = min(cached), min(plain)
    print(f"caltech101 train, {n} (cached) / {m} (ImageFolder) images at {size} px, RandomResizedCrop+flip, "
          f"batch {args.batch_size}, {args.workers} workers, best of {args.epochs} epochs")
    print(f"tensor cache : {best_cached:7.2f} s/epoch  ({n / best_cached:7.0f} img/s; "
          f"one-time decode {decode_once:.1f} s)")
    print(f"ImageFolder  : {best_plain:7.2f} s/epoch  ({m / best_plain:7.0f} img/s)")
    print(f"ratio (ImageFolder / tensor cache epoch time): {best_plain / best_cached:.1f}x")


if __name__ == "__main__":
    main()
