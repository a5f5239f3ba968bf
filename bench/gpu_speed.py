"""The image path's speed on one device, each setting side by side in one run: feature extraction (images/s) and one
fine-tuning epoch of the whole network (mode all), each with and without channels_last and mixed precision
(autocast: float16 for extraction, bfloat16 for training, as the trainables use them), plus the harness's setting
with cuDNN's autotuner on.

    python bench/gpu_speed.py --data DIR/caltech101 [--device cuda] [--model mobilenet_v2] [--per-class 50]
                              [--epochs 3] [--threads N] [--weights imagenet|random]

Uses the trainables' own pieces (decode-once uint8 tensors, `features.extract`, `backbones.classifier`,
`ImageLearner.train_epoch`). On a CPU autocast is off in the trainables, so the mixed-precision rows are left out
there. Prints a table and each setting's ratio to plain float32 NCHW; run it on the GPU and on a CPU for the ratio
between the two.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import offline_torch_home, whole_network_learner

# (name, channels_last, autocast, cudnn.benchmark): the last is what the trainables use today
SETTINGS = (("float32 NCHW", False, False, False), ("channels_last", True, False, False),
            ("autocast", False, True, False), ("channels_last + autocast", True, True, False),
            ("channels_last + autocast + cudnn.benchmark", True, True, True))


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def extraction_rate(model_name: str, weights: str, train, device, channels_last: bool, amp: bool) -> float:
    """Images/s of `features.extract` over `train`, after one warm-up pass."""
    import torch

    from trainables.images import backbones
    from trainables.images.features import extract

    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = backbones.feature_extractor(model_name, weights).to(device, memory_format=layout)
    extract(model, train, device, amp=amp, channels_last=channels_last)  # warm-up (and autotuning, when on)
    sync(device)
    t0 = time.perf_counter()
    extract(model, train, device, amp=amp, channels_last=channels_last)
    sync(device)
    return len(train) / (time.perf_counter() - t0)


def epoch_seconds(model_name: str, weights: str, train, n_classes: int, size: int, device, channels_last: bool,
                  amp: bool, epochs: int) -> float:
    """Median seconds of a whole-network training epoch (batch 32, SGD), after one warm-up epoch."""
    learner = whole_network_learner(model_name, n_classes, weights, size, device, channels_last, amp)
    times = []
    for _ in range(epochs + 1):  # the first is warm-up
        sync(device)
        t0 = time.perf_counter()
        learner.train_epoch(train)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="an image dataset folder (train/<class>/...)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--weights", default="imagenet", choices=("imagenet", "random"))
    parser.add_argument("--per-class", type=int, default=50, help="train images per class (all classes)")
    parser.add_argument("--epochs", type=int, default=3, help="timed fine-tuning epochs per setting (median)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()

    import torch

    from trainables.images.data import load_image_data
    from trainables.images.specs import backbone_spec
    from core.plan import ImageCaps
    from trainables.torch_learner import describe_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.weights == "imagenet" and "TORCH_HOME" not in os.environ:
        offline_torch_home()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device visible to PyTorch")
    size = backbone_spec(args.model).input_size
    t0 = time.perf_counter()
    classes, train, _ = load_image_data(args.data, size, ImageCaps(max_train_per_class=args.per_class,
                                                                   max_test_per_class=1), seed=0)
    print(f"{args.data}: {len(train)} train images, {len(classes)} classes, {size} px, decoded in "
          f"{time.perf_counter() - t0:.1f} s; device {describe_device(device)}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    rows = []
    for name, channels_last, amp, autotune in SETTINGS:
        if amp and device.type != "cuda":
            continue  # the trainables enable autocast on CUDA only
        torch.backends.cudnn.benchmark = autotune
        rate = extraction_rate(args.model, args.weights, train, device, channels_last, amp)
        seconds = epoch_seconds(args.model, args.weights, train, len(classes), size, device, channels_last, amp,
                                args.epochs)
        rows.append((name, rate, seconds))
        print(f"  measured {name}: extract {rate:.0f} img/s, epoch {seconds:.2f} s", flush=True)
    base_rate, base_epoch = rows[0][1], rows[0][2]
    print(f"\n{args.model} ({args.weights}) on {describe_device(device)}; fine-tuning: mode all, batch 32, "
          f"{len(train)} images, median of {args.epochs} epochs")
    print(f"{'setting':<44} {'extract img/s':>13} {'x':>6} {'epoch s':>8} {'train img/s':>11} {'x':>6}")
    for name, rate, seconds in rows:
        print(f"{name:<44} {rate:13.0f} {rate / base_rate:6.2f} {seconds:8.2f} {len(train) / seconds:11.0f} "
              f"{base_epoch / seconds:6.2f}")


if __name__ == "__main__":
    main()
