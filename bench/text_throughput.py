"""Training throughput (samples/s) of the TensorFlow LSTM vs its PyTorch twin on real `sentiment`, same
configuration, same data preparation, same threads; each framework in its own process (never both in one).

    python bench/text_throughput.py [--cell lstm] [--epochs 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import shared_data

PARAMS = {"embed_dim": 64, "units": 64, "layers": 1, "bidirectional": False, "dropout": 0.3, "lr": 0.002,
          "batch_size": 64, "optimizer": "adam", "max_len": "auto"}


def measure(framework: str, cell: str, epochs: int, threads: int) -> dict:
    from core.plan import TextCaps
    from trainables.text.data import prepare

    data = prepare(shared_data("text", "sentiment"), "sentiment", TextCaps(), PARAMS, 0.1, seed=0)
    if framework == "tensorflow":
        from trainables.text import rnn

        tf, _ = rnn.configure_tensorflow(threads, 0)
        vocab, train, _, _ = rnn.encode(tf, data)
        learner = rnn.KerasLearner(tf, rnn.build_model(tf, vocab, len(data.classes), cell, PARAMS), 64)
    else:
        import torch

        from trainables.text import rnn_torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        vocab, train, _, _ = rnn_torch.encode(data)
        model = rnn_torch.TextRNN(vocab, len(data.classes), cell, PARAMS)
        learner = rnn_torch.TorchTextLearner(model, torch.optim.Adam(model.parameters(), lr=PARAMS["lr"]),
                                             torch.device("cpu"), torch.Generator().manual_seed(0), batch_size=64)
    learner.train_epoch(train)  # warm-up: graph tracing / first-call allocations
    t0 = time.perf_counter()
    seen = sum(learner.train_epoch(train)["items"] for _ in range(epochs))
    return {"samples_per_s": seen / (time.perf_counter() - t0), "max_len": data.max_len, "n": len(train.y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.cell, args.epochs, args.threads)))
        return
    results = {}
    for framework in ("tensorflow", "torch"):
        out = subprocess.run([sys.executable, __file__, "--one", framework, "--cell", args.cell, "--epochs",
                              str(args.epochs), "--threads", str(args.threads)], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
        results[framework] = json.loads(out)
    tf, pt = results["tensorflow"], results["torch"]
    print(f"sentiment ({tf['n']} training sentences, max_len {tf['max_len']}), {args.cell}, {PARAMS}, "
          f"{args.threads} threads, {args.epochs} timed epochs after one warm-up")
    print(f"tensorflow : {tf['samples_per_s']:8.0f} samples/s")
    print(f"torch      : {pt['samples_per_s']:8.0f} samples/s")
    print(f"ratio (torch / tensorflow): {pt['samples_per_s'] / tf['samples_per_s']:.2f}x")


if __name__ == "__main__":
    main()
