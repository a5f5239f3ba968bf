"""recurrent, framework=torch: the handout appendix's PyTorch twin of the Keras model — nn.Embedding ->
nn.RNN / nn.LSTM / nn.GRU on packed sequences -> (last state | max | mean pooling) -> Dropout -> Linear — with the
same data preparation, search space, epoch loop and result schema, so one sweep compares the two frameworks cell
by cell.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common import skipped_facts
from trainables.loop import fit
from trainables.registry import CELLS
from trainables.text import params as knobs
from trainables.text.data import TextData, Vectorizer, prepare
from trainables.trial import Trial


@dataclass
class Encoded:
    x: np.ndarray  # right-padded ids
    y: np.ndarray
    lengths: np.ndarray


def encode(data: TextData) -> tuple[int, Encoded, Encoded, Encoded]:
    vectorizer = Vectorizer(data.max_tokens).fit(data.train.texts)

    def ids(split) -> Encoded:
        x = vectorizer.encode(split.texts, data.max_len)
        return Encoded(x, split.y, np.maximum((x != 0).sum(axis=1), 1))

    return vectorizer.vocab_size, ids(data.train), ids(data.val), ids(data.test)


def uses_cudnn(device) -> bool:
    """Whether this trial's recurrent layers run on cuDNN: nn.RNN / LSTM / GRU do in any configuration, but only on a
    CUDA device with cuDNN present and enabled (on a CPU, never)."""
    import torch

    return device.type == "cuda" and torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled


def build_model(vocab: int, n_classes: int, cell: str, params: dict):
    import torch
    from torch import nn

    pooling = knobs.pooling(params)

    class TextRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, int(params["embed_dim"]), padding_idx=0)
            self.embed_dropout = nn.Dropout1d(knobs.embed_dropout(params))  # whole channels, as SpatialDropout1D
            rnn_cls = getattr(nn, CELLS.get(cell).torch_module)
            self.rnn = rnn_cls(int(params["embed_dim"]), int(params["units"]), num_layers=int(params["layers"]),
                               batch_first=True, bidirectional=bool(params["bidirectional"]))
            self.dropout = nn.Dropout(float(params["dropout"]))
            self.out = nn.Linear(int(params["units"]) * (2 if params["bidirectional"] else 1), n_classes)

        def forward(self, x, lengths):
            embedded = self.embed_dropout(self.embedding(x).transpose(1, 2)).transpose(1, 2)
            packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                                       enforce_sorted=False)
            states, hidden = self.rnn(packed)
            if pooling == "last":
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
                directions = 2 if self.rnn.bidirectional else 1
                last = hidden.view(self.rnn.num_layers, directions, len(x), -1)[-1]  # top layer, every direction
                return self.out(self.dropout(torch.cat(list(last), dim=1)))
            states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True)  # zeros after each length
            mask = (torch.arange(states.shape[1], device=states.device)[None, :]
                    < lengths.to(states.device)[:, None]).unsqueeze(-1)
            if pooling == "max":
                pooled = states.masked_fill(~mask, float("-inf")).amax(dim=1)
            else:
                pooled = states.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            return self.out(self.dropout(pooled))

    return TextRNN()


@dataclass
class TorchTextLearner:
    model: Any
    optimizer: Any
    device: Any
    batch_size: int
    generator: Any

    def _batches(self, split: Encoded, shuffle: bool):
        import torch

        order = torch.randperm(len(split.y), generator=self.generator) if shuffle else torch.arange(len(split.y))
        x, y, lengths = (torch.from_numpy(a) for a in (split.x, split.y, split.lengths))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield x[idx].to(self.device), y[idx].to(self.device), lengths[idx]

    def train_epoch(self, split: Encoded) -> dict[str, float]:
        import torch.nn.functional as F

        self.model.train()
        total, correct, seen = 0.0, 0, 0
        for x, y, lengths in self._batches(split, True):
            logits = self.model(x, lengths)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        return {"loss": total / max(seen, 1), "acc": correct / max(seen, 1), "items": seen}

    def scores(self, split: Encoded) -> np.ndarray:
        """Class probabilities, one row per example (ensembles average these)."""
        import torch

        self.model.eval()
        with torch.inference_mode():
            rows = [torch.softmax(self.model(x, lengths).float(), 1).cpu().numpy()
                    for x, _, lengths in self._batches(split, False)]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def save(self, folder: Path) -> None:
        import torch

        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "generator": self.generator.get_state()}, folder / "state.pt")

    def load(self, folder: Path) -> None:
        import torch

        state = torch.load(folder / "state.pt", map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])

    def snapshot(self) -> dict:
        return copy.deepcopy(self.model.state_dict())

    def restore(self, snapshot: dict) -> None:
        self.model.load_state_dict(snapshot)


def run(dataset_dir: Path, trial: Trial) -> None:
    import torch

    torch.set_num_threads(trial.cpus)
    torch.manual_seed(trial.seed)
    params = trial.params
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    trial.device = f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu"
    with trial.phase("extract"):
        data = prepare(dataset_dir, trial.cell.dataset, trial.spec.text, params, trial.spec.val_fraction,
                       trial.spec.data_seed, trial.layout)
        vocab, train, val, test = encode(data)
    model = build_model(vocab, len(data.classes), trial.cell.model, params).to(device)
    optimizers = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    optimizer = optimizers[knobs.optimizer(params)](model.parameters(), lr=float(params["lr"]))
    trial.values |= {"classes": json.dumps(data.classes), "max_len": data.max_len, "vocab_size": vocab,
                     **skipped_facts("skipped_rows", data.skipped), "cudnn_eligible": uses_cudnn(device)}
    learner = TorchTextLearner(model, optimizer, device, int(params["batch_size"]),
                               torch.Generator().manual_seed(trial.seed))
    epochs = trial.spec.epochs
    fit(trial, learner, train, val, test, epochs, patience=params.get("patience"))
