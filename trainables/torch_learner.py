"""What every PyTorch trainable shares: the trial's threads, seed and device (chosen here only), and the learner
the shared epoch loop (trainables.loop.fit) drives.

`TorchLearner` owns the training step (mixed precision on a GPU when asked, an optional gradient-norm clip, a
per-epoch learning-rate schedule), the scores, checkpoints and in-memory best weights. A method supplies only its
model and `batches(split, train)`, which yields `(inputs, labels)` with `inputs` the model's positional arguments
— `(images,)` for a CNN, `(ids, lengths)` for a recurrent net.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

AUX_WEIGHT = 0.4  # Inception's auxiliary classifier: its loss joins the main one at this weight while training


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    return f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu"


def start_torch(trial: Any) -> torch.device:
    """A trial's PyTorch: its CPU threads, its seed (before any weights are drawn) and its device, recorded."""
    torch.set_num_threads(trial.cpus)
    torch.manual_seed(trial.seed)
    device = pick_device()
    trial.use_device(describe_device(device))
    return device


@dataclass
class TorchLearner:
    """A model, its optimiser (and schedule), where it runs and the RNG that shuffles its batches."""

    model: Any
    optimizer: Any
    device: Any
    generator: Any  # the shuffling RNG, checkpointed so a resumed trial sees the same batches
    scheduler: Any = None  # stepped once per epoch
    clip: float | None = None  # the gradient's largest norm per step (params.clip); None: unclipped
    amp: bool = False  # bfloat16 autocast on a GPU (convolutions; the recurrent nets stay in float32)

    def batches(self, split: Any, train: bool) -> Iterator[tuple[tuple, Any]]:
        raise NotImplementedError

    def train_mode(self) -> None:
        self.model.train()

    def _autocast(self, **kwargs: Any):
        return torch.autocast(self.device.type, enabled=self.amp and self.device.type == "cuda", **kwargs)

    def train_epoch(self, split: Any) -> dict[str, float]:
        self.train_mode()
        total_loss, correct, seen = 0.0, 0, 0
        for inputs, y in self.batches(split, True):
            with self._autocast(dtype=torch.bfloat16):
                out = self.model(*inputs)
                # a model with an auxiliary head (Inception) returns (logits, aux_logits) while training
                logits, aux = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
                loss = F.cross_entropy(logits, y) + (AUX_WEIGHT * F.cross_entropy(aux, y) if aux is not None else 0.0)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        if self.scheduler is not None:
            self.scheduler.step()
        return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "items": seen}

    def scores(self, split: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), one row per example (ensembles average these)."""
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            rows = [torch.softmax(self.model(*inputs).float(), 1).cpu().numpy()
                    for inputs, _ in self.batches(split, False)]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def snapshot(self) -> dict:
        return copy.deepcopy(self.model.state_dict())

    def restore(self, snapshot: dict) -> None:
        self.model.load_state_dict(snapshot)

    def save(self, folder: Path) -> None:
        state = {"model": self.snapshot(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                 "generator": self.generator.get_state()}
        with open(folder / "state.pt", "wb") as handle:  # through Python's file: a full disk is OSError(ENOSPC),
            torch.save(state, handle)  # where torch's own writer says only "enforce fail ... unexpected pos"

    def load(self, folder: Path) -> None:
        state = torch.load(folder / "state.pt", map_location=self.device, weights_only=False)
        self.restore(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
