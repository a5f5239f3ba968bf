"""What every Keras trainable shares: TensorFlow set up for one trial (threads, GPU memory growth, seeds) and the
learner the shared epoch loop (trainables.loop.fit) drives — a compiled model trained on in-memory arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Arrays:
    """One split as model inputs and integer labels."""

    x: np.ndarray
    y: np.ndarray


def configure_tensorflow(cpus: int, seed: int):
    """TensorFlow for one trial. A process Tune reuses for the next trial (same resources, so the same CPUs) has
    TensorFlow initialised already: threads and memory growth are fixed by then; the Keras session starts clean."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)  # share the card with other trials
    except RuntimeError:  # "cannot be modified after initialization": an earlier trial of this process set them
        pass
    tf.keras.backend.clear_session()  # the previous trial's graphs, layer names and memory
    tf.keras.utils.set_random_seed(seed)
    return tf, ("gpu:" + gpus[0].name if gpus else "cpu")


@dataclass
class KerasLearner:
    tf: Any
    model: Any
    batch_size: int

    def train_epoch(self, split: Arrays) -> dict[str, float]:
        hist = self.model.fit(split.x, split.y, batch_size=self.batch_size, epochs=1, verbose=0, shuffle=True)
        return {"loss": float(hist.history["loss"][-1]), "acc": float(hist.history["accuracy"][-1]),
                "items": len(split.y)}

    def scores(self, split: Arrays) -> np.ndarray:
        """Class probabilities (the softmax output), one row per example."""
        if len(split.y) == 0:
            return np.zeros((0, self.model.output_shape[-1]), dtype=np.float32)
        return self.model.predict(split.x, batch_size=512, verbose=0)

    def save(self, folder: Path) -> None:
        self.model.save(folder / "model.keras")  # weights and optimizer state

    def load(self, folder: Path) -> None:
        self.model = self.tf.keras.models.load_model(folder / "model.keras")

    def snapshot(self) -> list:
        return self.model.get_weights()

    def restore(self, snapshot: list) -> None:
        self.model.set_weights(snapshot)
