"""A wide pilot search of Part 2's PyTorch twin on one GPU, outside Ray: how far can these cells go, and which
configurations get there? Its findings become entries of a budget that the real harness then runs.

    python bench/text_gpu_pilot.py --data DIR [--datasets questions,sentiment] [--minutes 7] [--workers 4]
                                   [--out results.jsonl]

For GPU machines that have CUDA PyTorch but neither Ray nor TensorFlow (the lent device machines here): it uses
the twin's own data preparation (stratified validation split, vocabulary, lengths), model and learner, with
early stopping on validation and test touched once with the best-validation weights — the harness's protocol —
but a plain process pool instead of Tune, random configurations from a wider space than the CPU budget, and a
deadline. It prints per dataset and cell the best trial by validation accuracy, and the accuracy of averaging the
probabilities of the top-k trials by validation accuracy (an ensemble; reported separately, never as a single
model's figure).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CELLS = ("rnn", "lstm", "gru")
SPACE = {"embed_dim": [64, 128, 200, 300], "units": [64, 128, 256], "layers": [1, 2],
         "bidirectional": [True, True, False], "pooling": ["max", "max", "mean", "last"], "batch_size": [16, 32, 64],
         "optimizer": ["adam", "rmsprop"]}
# per dataset: vocabulary caps, sequence lengths and epochs worth trying (questions are ten words, posts hundreds)
DATASET_SPACE = {
    "questions": {"max_tokens": [1000, 1500, 2000, 3000, 7694], "max_len": ["auto"]},
    "sentiment": {"max_tokens": [4000, 8000, 12000, 18298], "max_len": ["auto"]},
    "spam": {"max_tokens": [10000, 28049], "max_len": [200, 400]},
    "newsgroups": {"max_tokens": [30000, 50000, 100000], "max_len": [300, 400, 600], "batch_size": [32, 64]},
}
MAX_EPOCHS, PATIENCE, VAL_FRACTION, DATA_SEED = 30, 5, 0.1, 0


def sample(rng: np.random.RandomState, dataset: str) -> dict:
    space = SPACE | DATASET_SPACE[dataset]
    params = {k: v[rng.randint(len(v))] for k, v in sorted(space.items())}
    params |= {"dropout": round(rng.uniform(0.2, 0.6), 3), "embed_dropout": round(rng.uniform(0.0, 0.5), 3),
               "lr": float(f"{np.exp(rng.uniform(np.log(3e-4), np.log(5e-3))):.2g}")}
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def run_one(job: dict) -> dict | None:
    """Train one configuration with early stopping; None when the deadline passed before it started."""
    if time.time() > job["deadline"]:
        return None
    import torch

    from trainables.text.data import prepare
    from core.plan import TextCaps
    from trainables.text.rnn_torch import OPTIMIZERS, TextRNN, TorchTextLearner, encode

    torch.set_num_threads(1)
    torch.manual_seed(job["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    params, t0 = job["params"], time.time()
    data = prepare(Path(job["root"]) / job["dataset"], job["dataset"], TextCaps(max_len_cap=600), params,
                   VAL_FRACTION, DATA_SEED)
    vocab, train, val, test = encode(data)
    model = TextRNN(vocab, len(data.classes), job["cell"], params).to(device)
    optimizer = OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
    learner = TorchTextLearner(model, optimizer, device, torch.Generator().manual_seed(job["seed"]),
                               batch_size=int(params["batch_size"]))
    best = (-1.0, 0, None, None)  # val_acc, epoch, weights, val scores
    for epoch in range(1, job["max_epochs"] + 1):
        learner.train_epoch(train)
        scores = learner.scores(val)
        acc = float((scores.argmax(1) == val.y).mean())
        if acc > best[0]:
            best = (acc, epoch, learner.snapshot(), scores)
        if epoch - best[1] >= PATIENCE or time.time() > job["deadline"] + job["grace_s"]:
            break
    learner.restore(best[2])
    test_scores = learner.scores(test)
    return {"dataset": job["dataset"], "cell": job["cell"], "params": params, "seed": job["seed"],
            "max_len": data.max_len, "vocab": vocab, "val_acc": best[0], "best_epoch": best[1], "epochs": epoch,
            "test_acc": float((test_scores.argmax(1) == test.y).mean()), "seconds": round(time.time() - t0, 1),
            "val_scores": best[3].astype(np.float16), "test_scores": test_scores.astype(np.float16),
            "val_y": val.y, "test_y": test.y}


def jobs(datasets: list[str], cells: list[str], per_dataset: int, root: Path, deadline: float,
         grace_s: float) -> list[dict]:
    """Round-robin over datasets and cells so a deadline leaves every cell some trials; slow datasets first."""
    rng = np.random.RandomState(20261126)
    out = []
    for i in range(per_dataset):
        for dataset in datasets:
            cell = cells[i % len(cells)]
            out.append({"dataset": dataset, "cell": cell, "params": sample(rng, dataset), "seed": 1000 + i,
                        "root": str(root), "deadline": deadline, "grace_s": grace_s, "max_epochs": MAX_EPOCHS})
    return out


def trial_id(result: dict) -> str:
    return f"{result['dataset']}-{result['cell']}-{result['seed']:05d}"


def ranked(results: list[dict]) -> list[str]:
    """Trial ids, best validation accuracy first: analysis.selection's order (ties to the smaller id)."""
    import pandas as pd

    from analysis.selection import ranked as selection_order

    frame = pd.DataFrame({"trial_id": [trial_id(r) for r in results], "status": "ok",
                          "val_acc": [r["val_acc"] for r in results]})
    return selection_order(frame)["trial_id"].tolist()


def ensemble_acc(results: list[dict], k: int) -> float:
    """Test accuracy of the top-k-by-validation average (analysis.ensembles.top_k: chosen on validation only)."""
    from analysis.ensembles import top_k

    scores = {trial_id(r): {key: r[key].astype(np.float32) if key.endswith("_scores") else r[key]
                            for key in ("val_y", "val_scores", "test_y", "test_scores")} for r in results}
    return top_k(ranked(results), scores, k).test_acc


def summarize(results: list[dict]) -> None:
    print(f"\n{'dataset':<11} {'cell':<5} {'trials':>6} {'val_acc':>8} {'test_acc':>8}  configuration (best by val)")
    for dataset in sorted({r["dataset"] for r in results}):
        mine = [r for r in results if r["dataset"] == dataset]
        for cell in CELLS:
            cell_results = [r for r in mine if r["cell"] == cell]
            if cell_results:
                top = next(r for r in cell_results if trial_id(r) == ranked(cell_results)[0])
                config = top["params"] | {"max_len": top["max_len"], "best_epoch": top["best_epoch"]}
                print(f"{dataset:<11} {cell:<5} {len(cell_results):>6} {top['val_acc']:8.4f} {top['test_acc']:8.4f}  "
                      f"{json.dumps(config)}")
        ensembles = ", ".join(f"top-{k} {ensemble_acc(mine, k):.4f}" for k in (3, 5, 10) if len(mine) >= k)
        single = next(r for r in mine if trial_id(r) == ranked(mine)[0])
        print(f"{dataset:<11} all   {len(mine):>6}  best single by val: "
              f"{single['test_acc']:.4f}; ensembles (test): {ensembles}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding <dataset>/train.csv and test.csv")
    parser.add_argument("--datasets", default="newsgroups,sentiment,questions")
    parser.add_argument("--per-dataset", type=int, default=300, help="configurations drawn per dataset")
    parser.add_argument("--minutes", type=float, default=7.0, help="no trial starts after this")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds a running trial may go past it")
    # processes share the GPU by time-slicing (no MPS): 16 made each trial slower than a CPU core; 3 ran well
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--fix", type=json.loads, default={}, help='JSON of hyperparameters to fix, e.g. {"layers": 1}')
    parser.add_argument("--out", type=Path, default=None, help="one JSON line per finished trial")
    args = parser.parse_args()

    deadline = time.time() + 60 * args.minutes
    todo = jobs(args.datasets.split(","), args.cells.split(","), args.per_dataset, args.data, deadline, args.grace)
    for job in todo:
        job["max_epochs"], job["params"] = args.max_epochs, job["params"] | args.fix
    results = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(run_one, todo):
            if result is None:
                continue
            results.append(result)
            line = {k: v for k, v in result.items() if not k.endswith(("_scores", "_y"))}
            print(json.dumps(line), flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(line) + "\n")
    summarize(results)


if __name__ == "__main__":
    main()
