"""Training and inference throughput (images/s) of scratch_cnn in PyTorch vs its Keras twin: the same small_cnn,
the same standardised CIFAR-format arrays, batch size and threads; each framework in its own process.

    python bench/scratch_throughput.py [--data CIFAR_FOLDER] [--images 5000] [--epochs 2] [--threads 2] \\
        [--batch-size 128] [--augment none|flip_crop] [--frameworks torch,tensorflow]

Without --data it writes --images random 32 x 32 images in CIFAR-100's format to a temporary folder (throughput
does not depend on what the pixels show). Each framework trains one warm-up epoch, then --epochs timed ones, then
predicts the training images once (timed). On a GPU machine each process uses its framework's GPU when it sees one.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)
import numpy as np

PARAMS = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "dropout": 0.3,
          "schedule": "cosine"}


def synthetic(folder: Path, images: int) -> Path:
    from trainables.images.cifar import write_cifar

    rng = np.random.RandomState(0)
    labels = np.arange(images) % 100
    x = rng.randint(0, 256, (images, 32, 32, 3), dtype=np.uint8)
    return write_cifar(folder, {"train": (x, labels), "test": (x[:100], labels[:100])},
                       [f"class_{i}" for i in range(100)])


def measure(framework: str, data: Path, args: argparse.Namespace) -> dict:
    from core.plan import ImageCaps
    from core.registry import NETS
    from trainables.images.cifar import prepare

    params = PARAMS | {"batch_size": args.batch_size, "augment": args.augment}
    classes, (x, y), _, _ = prepare(data, ImageCaps(), 0.0, seed=0)  # uncapped; one image per class still goes to val
    net, epochs = NETS.get("small_cnn"), args.epochs + 1
    if framework == "tensorflow":
        from trainables.images import scratch_keras
        from trainables.keras_learner import Arrays, KerasLearner, configure_tensorflow

        tf, device = configure_tensorflow(args.threads, 0)
        train = Arrays(x, y)
        steps = epochs * -(-len(y) // args.batch_size)
        learner = KerasLearner(tf, scratch_keras.build(tf, net, len(classes), params, steps), args.batch_size)
    else:
        import torch

        from trainables.images import scratch
        from trainables.torch_learner import describe_device, pick_device

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        device = pick_device()
        train = scratch.to_split(x, y)
        learner = scratch.make_learner(net, len(classes), params, epochs, device,
                                       torch.Generator().manual_seed(0))
        device = describe_device(device)
    learner.train_epoch(train)  # warm-up: graph tracing, cuDNN autotuning, first allocations
    t0 = time.perf_counter()
    seen = sum(learner.train_epoch(train)["items"] for _ in range(args.epochs))
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    learner.scores(train)
    return {"train_per_s": seen / train_s, "predict_per_s": len(y) / (time.perf_counter() - t0), "n": len(y),
            "device": str(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="a CIFAR-100 folder (default: synthetic)")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--augment", choices=("none", "flip_crop"), default="none")
    parser.add_argument("--frameworks", default="torch,tensorflow")
    parser.add_argument("--one", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data, args)))
        return
    data = args.data or synthetic(Path(tempfile.mkdtemp(prefix="cifar_")), args.images)
    passed = [a for a in sys.argv[1:] if a not in ("--data", str(args.data))]
    results = {}
    for framework in args.frameworks.split(","):
        done = subprocess.run([sys.executable, __file__, *passed, "--data", str(data), "--one", framework],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"error: {framework}: {done.stderr.strip().splitlines()[-1]}")
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    first = next(iter(results.values()))
    print(f"scratch_cnn small_cnn, {first['n']} training images of 32 x 32 ({'given' if args.data else 'synthetic'}),"
          f" batch {args.batch_size}, augment {args.augment}, {args.threads} threads, {args.epochs} timed epochs "
          f"after one warm-up")
    for framework, r in results.items():
        print(f"{framework:10s} ({r['device']}): train {r['train_per_s']:8.0f} img/s   predict "
              f"{r['predict_per_s']:8.0f} img/s")
    if {"torch", "tensorflow"} <= set(results):
        pt, tf = results["torch"], results["tensorflow"]
        print(f"ratio (torch / tensorflow): train {pt['train_per_s'] / tf['train_per_s']:.2f}x, "
              f"predict {pt['predict_per_s'] / tf['predict_per_s']:.2f}x")


if __name__ == "__main__":
    main()
