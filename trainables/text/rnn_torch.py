"""recurrent, framework=torch: the handout appendix's PyTorch twin of the Keras model — nn.Embedding ->
nn.RNN / nn.LSTM / nn.GRU on packed sequences -> (last state | max | mean pooling) -> Dropout -> Linear — with the
same data preparation, search space, epoch loop and result schema (trainables.text.recurrent), so one sweep
compares the two frameworks cell by cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from core.registry import CELLS
from trainables.text import params as knobs
from trainables.text import recurrent
from trainables.text.data import TextData, Vectorizer
from trainables.torch_learner import TorchLearner, start_torch
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


def uses_cudnn(device: torch.device) -> bool:
    """Whether this trial's recurrent layers run on cuDNN: nn.RNN / LSTM / GRU do in any configuration, but only on a
    CUDA device with cuDNN present and enabled (on a CPU, never)."""
    return device.type == "cuda" and torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled


class TextRNN(nn.Module):
    """Embedding -> (spatial) dropout -> recurrent layers on packed sequences -> pooled states -> dropout -> Linear."""

    def __init__(self, vocab: int, n_classes: int, cell: str, params: dict):
        super().__init__()
        self.pooling = knobs.pooling(params)
        self.embedding = nn.Embedding(vocab, int(params["embed_dim"]), padding_idx=0)
        self.embed_dropout = nn.Dropout1d(knobs.embed_dropout(params))  # whole channels, as SpatialDropout1D
        rnn_cls = getattr(nn, CELLS.get(cell).torch_module)
        self.rnn = rnn_cls(int(params["embed_dim"]), int(params["units"]), num_layers=int(params["layers"]),
                           batch_first=True, bidirectional=bool(params["bidirectional"]))
        self.dropout = nn.Dropout(float(params["dropout"]))
        self.out = nn.Linear(int(params["units"]) * (2 if params["bidirectional"] else 1), n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embed_dropout(self.embedding(x).transpose(1, 2)).transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, hidden = self.rnn(packed)
        if self.pooling == "last":
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
            directions = 2 if self.rnn.bidirectional else 1
            last = hidden.view(self.rnn.num_layers, directions, len(x), -1)[-1]  # top layer, every direction
            return self.out(self.dropout(torch.cat(list(last), dim=1)))
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True)  # zeros after each length
        mask = (torch.arange(states.shape[1], device=states.device)[None, :]
                < lengths.to(states.device)[:, None]).unsqueeze(-1)
        if self.pooling == "max":
            pooled = states.masked_fill(~mask, float("-inf")).amax(dim=1)
        else:
            pooled = states.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return self.out(self.dropout(pooled))


@dataclass
class TorchTextLearner(TorchLearner):
    batch_size: int = 32

    def batches(self, split: Encoded, train: bool) -> Iterator[tuple[tuple, Any]]:
        order = torch.randperm(len(split.y), generator=self.generator) if train else torch.arange(len(split.y))
        x, y, lengths = (torch.from_numpy(a) for a in (split.x, split.y, split.lengths))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield (x[idx].to(self.device), lengths[idx]), y[idx].to(self.device)


OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


class TorchTwin:
    def start(self, trial: Trial) -> None:
        self.device = start_torch(trial)

    def encode(self, data: TextData) -> tuple[int, Encoded, Encoded, Encoded]:
        return encode(data)

    def learner(self, trial: Trial, vocab: int, data: TextData) -> tuple[TorchTextLearner, bool]:
        params = trial.params
        model = TextRNN(vocab, len(data.classes), trial.job.model, params).to(self.device)
        optimizer = OPTIMIZERS[knobs.optimizer(params)](model.parameters(), lr=float(params["lr"]))
        learner = TorchTextLearner(model, optimizer, self.device, torch.Generator().manual_seed(trial.seed),
                                   batch_size=int(params["batch_size"]))
        return learner, uses_cudnn(self.device)


def run(dataset_dir: Path, trial: Trial) -> None:
    recurrent.run(dataset_dir, trial, TorchTwin())
