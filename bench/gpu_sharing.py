"""Small trials sharing one GPU: k trial processes (1, 4, 8) on one card at once, without and with NVIDIA MPS, each
doing the same fixed work with a real learner. This is what `--gpus-per-trial 1 / 0.25 / 0.125` does to the card.

    python bench/gpu_sharing.py --data DIR [--counts 1,4,8] [--mps off,on] [--workloads text,image] [--cpus 16]

DIR holds `questions/` (text: the PyTorch twin, a bidirectional GRU, batch 32, on the course's 4,000 questions) and
`caltech101/` (image: MobileNetV2 fine-tuned whole, batch 32, 224 px, channels_last + bfloat16 autocast, on 20
images per class). Every process builds its learner, trains one warm-up epoch, waits for the others, then trains
`--epochs` timed epochs. Per workload and k it prints the median seconds of one trial's timed epochs, the card's
throughput (items/s over all k), both as ratios to one trial alone, and `nvidia-smi`'s utilisation meanwhile.
Without MPS, CUDA time-slices between the processes' contexts; with it (`nvidia-cuda-mps-control -d`, started and
stopped here) their kernels share the card at once.
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import GpuSampler, offline_torch_home, whole_network_learner

TEXT_PARAMS = {"embed_dim": 128, "units": 128, "layers": 1, "bidirectional": True, "dropout": 0.2,
               "embed_dropout": 0.1, "pooling": "max", "lr": 0.002, "optimizer": "adam", "batch_size": 32,
               "max_len": "auto", "max_tokens": 3000}


def text_learner(data_root: Path, device):
    import torch

    from core.plan import TextCaps
    from trainables.text.data import prepare
    from trainables.text.rnn_torch import TextRNN, TorchTextLearner, encode

    data = prepare(data_root / "questions", "questions", TextCaps(), TEXT_PARAMS, 0.15, 0)
    vocab, train, _, _ = encode(data)
    model = TextRNN(vocab, len(data.classes), "gru", TEXT_PARAMS).to(device)
    learner = TorchTextLearner(model, torch.optim.Adam(model.parameters(), lr=0.002), device,
                               torch.Generator().manual_seed(0), batch_size=32)
    return learner, train, len(train.y)


def caltech_subset(data_root: Path, cache: Path):
    """(classes, train): 20 images per class at 224 px, decoded once into the tensor cache (every process loads it)."""
    from trainables.images.data import load_image_data
    from core.plan import ImageCaps

    caps = ImageCaps(max_train_per_class=20, max_test_per_class=1)
    classes, train, _ = load_image_data(data_root / "caltech101", 224, caps, 0, cache, "bench-gpu-sharing")
    return classes, train


def image_learner(data_root: Path, device, cache: Path, weights: str):
    classes, train = caltech_subset(data_root, cache)
    return whole_network_learner("mobilenet_v2", len(classes), weights, 224, device), train, len(train)


def worker(workload: str, data_root: Path, cache: Path, weights: str, threads: int, epochs: int, device: str,
           barrier, results) -> None:
    """One trial process: build, warm up one epoch, wait for the others, time `epochs` epochs."""
    import torch

    torch.set_num_threads(threads)
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    build = text_learner(data_root, device) if workload == "text" else image_learner(data_root, device, cache, weights)
    learner, train, items = build
    learner.train_epoch(train)  # warm-up: CUDA context, cuDNN plans, allocator
    sync()
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(epochs):
        learner.train_epoch(train)
    sync()
    results.put((time.perf_counter() - t0, items * epochs))


@contextlib.contextmanager
def mps(on: bool):
    """NVIDIA's Multi-Process Service for the block (its daemon started and quit here), or nothing."""
    if not on:
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="mps_"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(folder / "log")}
    for path in env.values():
        Path(path).mkdir()
    try:
        started = subprocess.run(["nvidia-cuda-mps-control", "-d"], capture_output=True, text=True,
                                 env=os.environ | env)
    except OSError as exc:
        raise RuntimeError(f"nvidia-cuda-mps-control: {exc}") from exc
    if started.returncode != 0:
        raise RuntimeError(f"nvidia-cuda-mps-control -d failed: {started.stderr.strip() or started.stdout.strip()}")
    os.environ.update(env)  # the trial processes, spawned after this, find the daemon through these
    try:
        yield
    finally:
        subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, capture_output=True)
        time.sleep(1)  # the daemon leaves its clients' contexts before the next configuration starts
        for key in env:
            os.environ.pop(key)


def collect(results, procs, timeout: float) -> list[tuple[float, int]]:
    """Every process's (seconds, items), or an error as soon as one of them dies (a failed CUDA or MPS start must
    not hold the card for the whole timeout)."""
    import queue

    out, deadline = [], time.monotonic() + timeout
    while len(out) < len(procs):
        try:
            out.append(results.get(timeout=2))
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"trial processes exited with {failed}" if failed else f"over {timeout:.0f} s")
    for p in procs:
        p.join()
    return out


def measure(workload: str, k: int, args, cache: Path) -> tuple[float, float, str]:
    """(median seconds per trial, items/s over all k, utilisation summary) of k trials at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(k), ctx.Queue()
    threads = max(1, args.cpus // k)
    work = (workload, args.data, cache, args.weights, threads, args.epochs, args.device, barrier, results)
    procs = [ctx.Process(target=worker, args=work) for _ in range(k)]
    with GpuSampler() as sampler:
        for p in procs:
            p.start()
        out = collect(results, procs, args.timeout)
    seconds = [s for s, _ in out]
    return statistics.median(seconds), sum(n for _, n in out) / max(seconds), sampler.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with questions/ and caltech101/")
    parser.add_argument("--counts", default="1,4,8", help="trials per card, comma-separated")
    parser.add_argument("--mps", default="off,on", help="off, on, or both")
    parser.add_argument("--workloads", default="text,image")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per trial")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPU cores the trials split between them")
    parser.add_argument("--weights", default="imagenet", choices=("imagenet", "random"),
                        help="the image workload's starting weights (the same work either way)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: to check the script")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one configuration may take")
    args = parser.parse_args()
    if args.weights == "imagenet" and "TORCH_HOME" not in os.environ:
        offline_torch_home()
    cache = Path(tempfile.mkdtemp(prefix="gpu_sharing_cache_"))
    if "image" in args.workloads:  # decode once here, so the trial processes load tensors
        caltech_subset(args.data, cache)
    counts = [int(c) for c in args.counts.split(",")]
    rows = []
    for mps_on in (m == "on" for m in args.mps.split(",")):
        try:
            with mps(mps_on):
                for workload in args.workloads.split(","):
                    for k in counts:
                        seconds, rate, util = measure(workload, k, args, cache)
                        rows.append((workload, mps_on, k, seconds, rate))
                        print(f"  {workload} k={k} mps={'on' if mps_on else 'off'}: {seconds:.2f} s per trial, "
                              f"{rate:.0f} items/s in all; {util}", flush=True)
        except RuntimeError as exc:  # MPS missing or refused here: say so, keep what was measured
            print(f"  MPS {'on' if mps_on else 'off'}: stopped: {exc}", flush=True)
    print(f"\n{'workload':<8} {'MPS':<4} {'trials':>6} {'s/trial':>8} {'slowdown':>8} {'items/s':>9} {'x card':>7}")
    for workload, mps_on, k, seconds, rate in rows:
        base = next(r for r in rows if r[0] == workload)  # the first: one trial alone, MPS off when measured
        print(f"{workload:<8} {'on' if mps_on else 'off':<4} {k:6d} {seconds:8.2f} {seconds / base[3]:8.2f} "
              f"{rate:9.0f} {rate / base[4]:7.2f}")
    print(f"slowdown: one trial's time / the workload's first row (k={counts[0]}, MPS {args.mps.split(',')[0]}); "
          f"x card: the card's items/s over all trials / that row's")


if __name__ == "__main__":
    main()
