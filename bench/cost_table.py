"""Measure a device's rates into a cost table (sweeps/costs/<name>.yaml) that the plan prices trials from.

    python bench/cost_table.py --out sweeps/costs/cpu-2core.yaml                  # this machine's CPUs
    python bench/cost_table.py --device cuda --slots 4 --out sweeps/costs/h100.yaml  # a GPU, 4 trials sharing it

Each figure times the trainables' own code on generated inputs, with `--slots` copies of this measurement running
at once (default: one per core for a CPU table, as a local sweep runs one 1-CPU trial per core), so the rates are
those of a trial beside its neighbours; every copy's figure is averaged. What it measures (sweeps.cost.model reads
it; docs/cost.md shows how the plan combines them):

- images, per backbone: the model's build (random weights, as the demo's trials build it); forward GFLOP/s at three
  input sides (torchvision's GFLOPs per image, scaled by side squared, over the time per image at batch 32); and per
  fine-tuning mode (all = head_lr, last3, head with the body frozen) a training step at batch 8 and 32 at the
  smallest side, split into a per-image cost (as forward-GFLOP/s) and a per-step cost (the optimiser's update);
- the decoding of one image (a 300 x 220 photo and a demo drawing), the linear head on cached features, the SVM's
  fit;
- text, per cell type: Keras training and prediction over seven shapes (batch, tokens, units, embedding, layers,
  directions) with the course's masked max pooling, dropouts and padding, fitted to seconds = per call + per batch
  and token (its recurrent steps, and the recurrent weights it reads) + FLOPs / rate, and the tracing of the first
  epoch and the first prediction, fitted to per model + per recurrent layer;
- the sweep: a real local Tune sweep of a few demo trials, for the driver's start and Ray's time per trial outside
  the trials' own wall.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

SIDES = (32, 96, 160)  # each backbone at its smallest side for these (alexnet 63, inception_v3 75)
MODES = ("all", "last3", "head")
TEXT_SHAPES = ({"units": 16, "embed_dim": 16, "layers": 1, "bidirectional": False, "max_len": 32, "batch_size": 8},
               {"units": 64, "embed_dim": 64, "layers": 1, "bidirectional": False, "max_len": 96, "batch_size": 32},
               {"units": 128, "embed_dim": 128, "layers": 2, "bidirectional": True, "max_len": 48, "batch_size": 32},
               {"units": 32, "embed_dim": 32, "layers": 1, "bidirectional": True, "max_len": 128, "batch_size": 8},
               {"units": 256, "embed_dim": 128, "layers": 2, "bidirectional": True, "max_len": 16, "batch_size": 16},
               {"units": 256, "embed_dim": 300, "layers": 1, "bidirectional": False, "max_len": 64, "batch_size": 64},
               {"units": 128, "embed_dim": 200, "layers": 1, "bidirectional": True, "max_len": 32, "batch_size": 16})
# what the course's spaces search beside the shape: masked max pooling, dropouts, a vocabulary of thousands
TEXT_KNOBS = {"dropout": 0.3, "lr": 0.001, "optimizer": "adam", "pooling": "max", "embed_dropout": 0.2}
VOCAB = 2000


def timed(fn, repeats: int = 2) -> float:
    """Seconds of one call: a warm-up call, then the median of `repeats`."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def random_images(n: int, side: int):
    import numpy as np
    import torch

    from trainables.images.data import Split

    x = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    return Split(x, np.arange(n) % 10)


def measure_backbone(name: str, device) -> dict:
    """Build, forward per side, and a training step per mode at batch 8 and 32, as the trainables run them."""
    import torch

    from core.registry import BACKBONES
    from trainables.images import backbones
    from trainables.images.data import batches
    from trainables.images.features import extract
    from trainables.images.finetune import ImageLearner

    spec = BACKBONES.get(name)
    sides = sorted({spec.size_for(s) for s in SIDES})
    small = sides[0]

    def build(side: int):
        model = backbones.classifier(name, 10, "random", side).to(device, memory_format=torch.channels_last)
        backbones.unit_variance_init(model, next(batches(random_images(32, side), 32, device))[0])
        return model

    t0 = time.perf_counter()
    model = build(small)
    out = {"build_s": time.perf_counter() - t0, "forward": {}, "train": {}}
    model.eval()
    for side in sides:
        images = random_images(32, side)
        seconds = timed(lambda: extract(model, images, device, batch_size=32))
        out["forward"][side] = spec.gflops_at(side) * 32 / seconds
    for mode in MODES:
        model = build(small)
        groups = backbones.param_groups(model, spec, mode, 0.001, 1.0)
        optimizer = torch.optim.SGD(groups, lr=0.001, momentum=0.9, weight_decay=1e-5)
        per_batch = {}
        for batch in (8, 32):
            learner = ImageLearner(model, optimizer, device, torch.Generator().manual_seed(0), clip=1.0,
                                   to_batches=lambda split, train, b=batch: batches(split, b, device, shuffle=True))
            per_batch[batch] = timed(lambda: learner.train_epoch(random_images(batch * 2, small))) / 2
        image_s = max((per_batch[32] - per_batch[8]) / 24, 1e-9)
        out["train"][mode] = {"gflop_s": spec.gflops_at(small) / image_s,
                              "step_ms": max(per_batch[8] - 8 * image_s, 0.0) * 1000}
    out["train_side"] = small
    return out


def measure_images(device) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from trainables.demo import draw_image
    from trainables.images.data import decode

    folder = Path(tempfile.mkdtemp(prefix="cost_images_"))
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, (220, 300, 3), dtype=np.uint8)).save(folder / "photo.jpg", quality=90)
    draw_image(rng, 0, 5).save(folder / "demo.jpg", quality=90)
    decode_ms = {kind: timed(lambda k=kind: [decode(folder / f"{k}.jpg", 96) for _ in range(20)]) / 20 * 1000
                 for kind in ("photo", "demo")}
    head = torch.nn.Linear(512, 10)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.01)
    x, y = torch.randn(1024, 512), torch.randint(0, 10, (1024,))

    def head_epoch():
        for start in range(0, 1024, 32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(head(x[start:start + 32]), y[start:start + 32]).backward()
            optimizer.step()

    return {"decode_ms": decode_ms, "head_ms_per_item": timed(head_epoch) / 1024 * 1000}


def measure_svm() -> dict:
    """The SVM pipeline's fit on clustered features: seconds per n^2 x d (n training rows, d features)."""
    import numpy as np

    from trainables.images.feature_svm import svm_pipeline

    rng = np.random.RandomState(0)
    per = []
    for n in (300, 900):
        y = np.arange(n) % 10
        x = rng.randn(n, 512) + 2.0 * rng.randn(10, 512)[y]
        for kernel in ("rbf", "linear"):
            svm = svm_pipeline({"scaler": "standard", "C": 1.0, "kernel": kernel})
            per.append(timed(lambda: svm.fit(x, y), repeats=1) / (n * n * 512))
    return {"fit_ns_per_n2d": statistics.mean(per) * 1e9}


def measure_cell(cell: str) -> list[dict]:
    """Keras training and prediction of one cell type over TEXT_SHAPES as a trial runs them (an epoch, then the
    validation split's prediction, in turn), with the first epoch's and first prediction's tracing apart; the build
    includes the trial's TensorFlow start (its session cleared for a new model)."""
    import numpy as np

    from trainables.keras_learner import Arrays, KerasLearner, configure_tensorflow
    from trainables.text.rnn import build_model

    rows = []
    for shape in TEXT_SHAPES:
        params = shape | TEXT_KNOBS
        n, length, batch = 8 * shape["batch_size"], shape["max_len"], shape["batch_size"]
        rng = np.random.RandomState(0)
        ids = rng.randint(2, VOCAB, (n, length)).astype(np.int64)
        ids[np.arange(length)[None, :] >= rng.randint(length // 3 + 1, length + 1, (n, 1))] = 0  # right padding
        data = Arrays(ids, rng.randint(0, 4, n))
        val = Arrays(data.x[: n // 4], data.y[: n // 4])
        t0 = time.perf_counter()
        tf, _ = configure_tensorflow(1, 0)
        learner = KerasLearner(tf, build_model(tf, VOCAB, 4, cell, params), batch)
        build = time.perf_counter() - t0
        fits, predicts = [], []
        for _ in range(4):
            t0 = time.perf_counter()
            learner.train_epoch(data)
            t1 = time.perf_counter()
            learner.scores(val)
            fits.append(t1 - t0)
            predicts.append(time.perf_counter() - t1)
        epoch, predict = statistics.median(fits[1:]), statistics.median(predicts[1:])
        rows.append(shape | {"n": n, "n_val": n // 4, "build_s": build, "epoch_s": epoch,
                             "trace_train_s": max(fits[0] - epoch, 0.0), "predict_s": predict,
                             "trace_predict_s": max(predicts[0] - predict, 0.0)})
    return rows


def measure_text_extract() -> dict:
    """Vectorising a dataset's texts (the trainable's encode): fixed seconds + ms per text, from 200 and 4000."""
    from types import SimpleNamespace

    import numpy as np

    from trainables.keras_learner import configure_tensorflow
    from trainables.text.rnn import encode

    tf, _ = configure_tensorflow(1, 0)
    rng = np.random.RandomState(0)
    words = [f"w{i}" for i in range(3000)]
    seconds = {}
    for n in (200, 4000):
        split = SimpleNamespace(texts=[" ".join(rng.choice(words, 20)) for _ in range(n)], y=np.zeros(n, int))
        empty = SimpleNamespace(texts=[], y=np.zeros(0, int))
        data = SimpleNamespace(train=split, val=empty, test=empty, max_tokens=2000, max_len=32)
        seconds[n] = timed(lambda d=data: encode(tf, d), repeats=1)
    per_item = max(seconds[4000] - seconds[200], 0.0) / 3800
    return {"fixed_s": max(seconds[200] - 200 * per_item, 0.0), "ms_per_item": per_item * 1000}


def measure_import(module: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
    return time.perf_counter() - t0


def one_copy(device_name: str) -> dict:
    """Every measurement once, in this process (one of --slots copies running at once)."""
    import torch

    from core.registry import BACKBONES, CELLS

    torch.set_num_threads(1 if device_name == "cpu" else 4)
    device = torch.device(device_name)
    out = {"import_s": {"torch": measure_import("torch, torchvision"), "tensorflow": measure_import("tensorflow")}}
    out["images"] = measure_images(device)
    out["svm"] = measure_svm()
    out["backbones"] = {name: measure_backbone(name, device) for name in BACKBONES.names()}
    out["text"] = {"extract": measure_text_extract()}
    out["cells"] = {cell: measure_cell(cell) for cell in CELLS.names()}
    return out


def nnls_fit(columns: list[list[float]], target: list[float]) -> list[float]:
    """Non-negative least squares (the terms are costs: none may be negative)."""
    import numpy as np
    from scipy.optimize import nnls

    return [float(v) for v in nnls(np.array(columns, dtype=float).T, np.array(target, dtype=float))[0]]


def fit_cell(rows: list[dict]) -> dict:
    """A cell type's terms (sweeps.cost.model.CellRates) from its measured shapes."""
    from sweeps.cost.model import token_flops

    def chain(r):  # recurrent steps a batch walks through: tokens x layers x directions
        return r["max_len"] * r["layers"] * (2 if r["bidirectional"] else 1)

    def flops(r, cell=rows[0]["cell"]):
        return token_flops(cell, r["units"], r["embed_dim"], r["layers"], r["bidirectional"]) * r["max_len"]

    out = {}
    for phase, items, batch_of, target in (("train", "n", lambda r: r["batch_size"], "epoch_s"),
                                           ("predict", "n_val", lambda r: 512, "predict_s")):
        call, per_step, per_weight, per_flop = nnls_fit(
            [[1.0] * len(rows),
             [math.ceil(r[items] / batch_of(r)) * chain(r) for r in rows],
             [math.ceil(r[items] / batch_of(r)) * flops(r) / 2 / 1e9 for r in rows],  # the recurrent weights read
             [r[items] * flops(r) / 1e9 for r in rows]],
            [r[target] for r in rows])
        out[phase] = {"call_ms": call * 1000, "step_us": per_step * 1e6, "weight_ns": per_weight,
                      "gflop_s": 1.0 / per_flop if per_flop > 0 else 1e6}
    for phase in ("train", "predict"):
        fixed, per_layer = nnls_fit([[1.0] * len(rows), [r["layers"] * (2 if r["bidirectional"] else 1) for r in rows]],
                                    [r[f"trace_{phase}_s"] for r in rows])
        out[f"trace_{phase}"] = {"fixed_s": fixed, "per_layer_s": per_layer}
    out["build_s"] = statistics.mean(r["build_s"] for r in rows)
    return out


def merge(copies: list[dict]) -> dict:
    """The mean over the copies of every number (they ran the same measurements at once)."""
    first = copies[0]
    if isinstance(first, dict):
        return {k: merge([c[k] for c in copies]) for k in first}
    if isinstance(first, list):
        return [merge([c[i] for c in copies]) for i in range(len(first))]
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.mean(copies)
    return first


def measure_sweep(slots: int, out: Path) -> dict:
    """A real local sweep of demo features_svm trials, timed as a user sees it (the command's start to its end): the
    start before the first trial, the end after the last, and Ray's time per trial outside the trials' walls (the
    span between them less list scheduling of the rows' walls over the slots)."""
    import pandas as pd

    from core.results import load_trials
    from sweeps.cost.model import makespan

    storage = Path(tempfile.mkdtemp(prefix="cost_sweep_"))
    # the timing sweep plans its cost with the tables in sweeps/costs: the one being replaced (--out) may be of an
    # older format, so it is set aside meanwhile
    aside = out.with_suffix(".measuring") if out.exists() else None
    if aside:
        out.rename(aside)
    command = [sys.executable, "-m", "groupsweep", "matrix", "--local", "--datasets", "animals,places",
               "--models", "resnet18,alexnet", "--methods", "features_svm", "--storage", str(storage),
               "--sweep-id", "rates", "--fresh"]
    t0 = time.time()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    finally:
        if aside:
            aside.rename(out)
    t1 = time.time()
    if done.returncode:
        sys.exit(f"error: the timing sweep failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    rows = load_trials(str(storage / "rates")).sort_values("started_utc")
    first = pd.to_datetime(rows["started_utc"]).min().timestamp()
    last = pd.to_datetime(rows["finished_utc"]).max().timestamp()
    span = makespan(list(rows["wall_s"]), slots)
    return {"start_s": max(first - t0, 0.0), "end_s": max(t1 - last, 0.0),
            "per_trial_s": max(last - first - span, 0.0) * slots / len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--slots", type=int, default=os.cpu_count(), help="copies measured at once (trials at once)")
    parser.add_argument("--card", default=None, help="what was measured (default: this machine's CPU model)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--copy", type=Path, help=argparse.SUPPRESS)  # one copy's output file
    args = parser.parse_args()
    if args.copy:
        args.copy.write_text(json.dumps(one_copy(args.device)))
        return
    folder = Path(tempfile.mkdtemp(prefix="cost_copies_"))
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES",
                                                                                            "0" if args.device != "cpu"
                                                                                            else "")}
    copies = [subprocess.Popen([sys.executable, __file__, "--device", args.device, "--out", args.out,
                                "--copy", str(folder / f"{i}.json")], env=env) for i in range(args.slots)]
    if any(p.wait() for p in copies):
        sys.exit("error: a measuring copy failed (its output is above)")
    measured = merge([json.loads((folder / f"{i}.json").read_text()) for i in range(args.slots)])
    from core.registry import CELLS

    for cell in CELLS.names():
        for row in measured["cells"][cell]:
            row["cell"] = cell
    document = {"card": args.card or describe_cpu(), "device": "cpu" if args.device == "cpu" else "gpu",
                "date": dt.date.today().isoformat(),
                "command": "python bench/cost_table.py " + shlex.join(sys.argv[1:]),
                "slots": args.slots,
                "import_s": measured["import_s"],
                "sweep": measure_sweep(args.slots, Path(args.out)) if args.device == "cpu" else
                {"start_s": 0.0, "end_s": 0.0, "per_trial_s": 0.0},  # a GPU machine's sweep: not measured here
                "images": measured["images"], "svm": measured["svm"], "text": measured["text"],
                "backbones": measured["backbones"],
                "cells": {cell: fit_cell(rows) for cell, rows in measured["cells"].items()}}
    write_table(document, Path(args.out))


def describe_cpu() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{model}, {os.cpu_count()} cores"


def write_table(document: dict, out: Path) -> None:
    import yaml

    from sweeps.cost.table import load_cost_table

    def rounded(value):
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return float(f"{value:.4g}") if isinstance(value, float) else value

    with open(out, "w") as handle:
        handle.write("# measured by bench/cost_table.py; sweeps/cost/model.py prices trials from it (docs/cost.md)\n")
        yaml.safe_dump(rounded(document), handle, sort_keys=False)
    table = load_cost_table(out)  # what the estimator will read
    print(f"{out}: {table.card}, {table.device}, {table.slots} at once")
    for name, rates in table.backbones.items():
        print(f"  {name:<13} forward GFLOP/s " + " ".join(f"{s}px {r:.3g}" for s, r in rates.forward.items())
              + "; train " + " ".join(f"{m} {t.gflop_s:.3g} GFLOP/s + {t.step_ms:.0f} ms/step"
                                      for m, t in rates.train.items()))
    for name, cell in table.cells.items():
        print(f"  {name:<13} train {cell.train.gflop_s:.3g} GFLOP/s, {cell.train.step_us:.0f} us/step; "
              f"trace {cell.trace_train.fixed_s:.2f} s + {cell.trace_train.per_layer_s:.2f} s/layer")
    print(f"  sweep: start {table.sweep['start_s']:.1f} s, {table.sweep['per_trial_s']:.2f} s per trial outside it")


if __name__ == "__main__":
    main()
