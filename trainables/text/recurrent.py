"""recurrent, the handout's Part 2 method: one skeleton for both of its frameworks.

Both twins read, cap and split the data alike (trainables.text.data.prepare), record the same row values and run
the shared epoch loop; a twin — the Keras model (trainables.text.rnn) or its PyTorch counterpart
(trainables.text.rnn_torch) — supplies only how it starts, how it turns texts into ids and its learner.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from trainables.common import skipped_facts
from trainables.loop import Learner, run_epochs
from trainables.text.data import TextData, prepare
from trainables.trial import Trial


class Twin(Protocol):
    def start(self, trial: Trial) -> None:
        """Threads, seed and device for this trial (recorded with trial.use_device)."""

    def encode(self, data: TextData) -> tuple[int, Any, Any, Any]:
        """(vocabulary size, train, val, test) as the learner's inputs; the vocabulary is fitted on train only."""

    def learner(self, trial: Trial, vocab: int, data: TextData) -> tuple[Learner, bool]:
        """The model for this trial's cell type and parameters, and whether its recurrent layers run on cuDNN."""


def run(dataset_dir: Path, trial: Trial, twin: Twin) -> None:
    twin.start(trial)
    with trial.phase("extract"):
        data = prepare(dataset_dir, trial.job.dataset, trial.spec.text, trial.params, trial.spec.val_fraction,
                       trial.spec.data_seed, trial.layout)
        vocab, train, val, test = twin.encode(data)
    learner, cudnn = twin.learner(trial, vocab, data)
    run_epochs(trial, learner, train, val, test, {
        "classes": json.dumps(data.classes), "max_len": data.max_len, "vocab_size": vocab,
        **skipped_facts("skipped_rows", data.skipped), "cudnn_eligible": cudnn})
