"""recurrent (TensorFlow/Keras, the handout's framework): random-init Embedding -> SimpleRNN / LSTM / GRU (1-2
layers, optionally bidirectional) -> Dropout -> Dense, on Keras TextVectorization ids (right padding, masked).

Search knobs beyond the handout's: `pooling` (the last state, or the max / mean of every state over the real
tokens), `embed_dropout` (whole embedding channels dropped, Keras SpatialDropout1D) and `max_tokens` (vocabulary
size; small training sets generalise better without their one-off words).

LSTM and GRU keep Keras' cuDNN-eligible configuration (tanh / sigmoid, no recurrent dropout, no unrolling,
reset_after for GRU); each row records whether every recurrent layer was eligible. The data, row values and epochs
are the twins' shared skeleton (trainables.text.recurrent).
"""
from __future__ import annotations

from pathlib import Path

import keras  # Keras 3 itself: tf.keras is its compatibility namespace, which lacks keras.saving
import numpy as np

from trainables.keras_learner import Arrays, KerasLearner, configure_tensorflow
from core.registry import CELLS
from trainables.text import params as knobs
from trainables.text import recurrent
from trainables.text.data import TextData
from trainables.trial import Trial


def encode(tf, data: TextData) -> tuple[int, Arrays, Arrays, Arrays]:
    """Fit the vocabulary on train only; ids for every split (a text with no known token keeps one [UNK])."""
    vectorizer = tf.keras.layers.TextVectorization(max_tokens=data.max_tokens, output_sequence_length=data.max_len)
    vectorizer.adapt(tf.constant(data.train.texts), batch_size=1024)

    def ids(split) -> Arrays:
        x = vectorizer(tf.constant(split.texts)).numpy() if split.texts else np.zeros((0, data.max_len), np.int64)
        x[x.sum(axis=1) == 0, 0] = 1  # an all-padding row would be fully masked
        return Arrays(x, split.y)

    return len(vectorizer.get_vocabulary()), ids(data.train), ids(data.val), ids(data.test)


def cudnn_eligible(model) -> bool:
    """Keras runs LSTM/GRU on cuDNN only with its default configuration; SimpleRNN never does."""
    eligible = []
    for layer in model.layers:
        inner = getattr(layer, "forward_layer", layer)
        name = type(inner).__name__
        if name not in ("SimpleRNN", "LSTM", "GRU"):
            continue
        c = inner.get_config()
        eligible.append(name != "SimpleRNN" and c["activation"] == "tanh" and c["recurrent_activation"] == "sigmoid"
                        and c["recurrent_dropout"] == 0 and not c["unroll"] and c["use_bias"]
                        and c.get("reset_after", True))
    return bool(eligible) and all(eligible)


@keras.saving.register_keras_serializable("groupsweep")
class MaskedPooling(keras.layers.Layer):
    """Pools (batch, time, features) over the unmasked steps only; registered so checkpoints load with it."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = True

    def call(self, x, mask=None):
        ops = keras.ops
        m = ops.ones(ops.shape(x)[:2], x.dtype) if mask is None else ops.cast(mask, x.dtype)
        m = ops.expand_dims(m, -1)
        if self.mode == "max":  # padded steps can never win the max
            return ops.max(x * m + (m - 1.0) * 1e9, axis=1)
        return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return super().get_config() | {"mode": self.mode}


def build_model(tf, vocab: int, n_classes: int, cell: str, params: dict):
    keras = tf.keras
    layer_cls = getattr(keras.layers, CELLS.get(cell).keras_layer)
    pooling = knobs.pooling(params)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(vocab, int(params["embed_dim"]), mask_zero=True)(inputs)
    if knobs.embed_dropout(params) > 0:
        x = keras.layers.SpatialDropout1D(knobs.embed_dropout(params))(x)
    layers = int(params["layers"])
    for i in range(layers):
        rnn = layer_cls(int(params["units"]), return_sequences=i < layers - 1 or pooling != "last")
        x = keras.layers.Bidirectional(rnn)(x) if params["bidirectional"] else rnn(x)
    if pooling != "last":
        x = MaskedPooling(pooling)(x)
    x = keras.layers.Dropout(float(params["dropout"]))(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    optimizer = optimizers[knobs.optimizer(params)]
    model.compile(optimizer=optimizer(learning_rate=float(params["lr"])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class KerasTwin:
    def start(self, trial: Trial) -> None:
        self.tf, device = configure_tensorflow(trial.cpus, trial.seed)
        trial.use_device(device)

    def encode(self, data: TextData) -> tuple[int, Arrays, Arrays, Arrays]:
        return encode(self.tf, data)

    def learner(self, trial: Trial, vocab: int, data: TextData) -> tuple[KerasLearner, bool]:
        model = build_model(self.tf, vocab, len(data.classes), trial.job.model, trial.params)
        return KerasLearner(self.tf, model, int(trial.params["batch_size"])), cudnn_eligible(model)


def run(dataset_dir: Path, trial: Trial) -> None:
    recurrent.run(dataset_dir, trial, KerasTwin())
