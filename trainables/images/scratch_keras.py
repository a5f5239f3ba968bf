"""scratch_cnn (TensorFlow/Keras): the twin of trainables.images.scratch — the same NETS entry built with Keras
layers, the same standardised CIFAR arrays, search space and row schema, so the two frameworks compare job by job.

`augment: flip_crop` is Keras preprocessing layers inside the model (RandomTranslation by up to 4 pixels with zeros
filled in — the twin's zero-pad + random crop — and RandomFlip), which act only while training.
"""
from __future__ import annotations

import json
from pathlib import Path

from trainables.images.cifar import PAD, for_trial
from trainables.keras_learner import Arrays, KerasLearner, configure_tensorflow
from trainables.loop import run_epochs
from core.registry import NETS, NetSpec
from trainables.trial import Trial


def build(tf, spec: NetSpec, n_classes: int, params: dict, steps: int):
    keras = tf.keras
    side = spec.input_size
    layers = [keras.Input(shape=(side, side, 3))]
    if params.get("augment", "none") == "flip_crop":
        # a shift of up to PAD pixels with zeros filled in = the twin's zero-pad + random crop
        layers += [keras.layers.RandomTranslation(PAD / side, PAD / side, fill_mode="constant",
                                                  interpolation="nearest"),
                   keras.layers.RandomFlip("horizontal")]
    for channels in spec.channels:
        layers += [keras.layers.Conv2D(channels, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(spec.hidden, activation="relu"),
               keras.layers.Dropout(float(params["dropout"])), keras.layers.Dense(n_classes, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer_for(tf, params, steps), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def optimizer_for(tf, params: dict, steps: int):
    """The torch twin's optimiser: SGD (momentum) or Adam, weight decay, the learning rate annealed by a cosine over
    the trial's `steps` (its epochs' batches) unless `schedule: constant`."""
    keras, decay = tf.keras, float(params.get("weight_decay", 0.0)) or None
    lr = float(params["lr"])
    if params.get("schedule", "cosine") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(steps, 1))
    elif params.get("schedule") != "constant":
        raise ValueError(f"params.schedule: {params['schedule']!r}; expected cosine or constant")
    name = params.get("optimizer", "sgd")
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, weight_decay=decay)
    if name != "sgd":
        raise ValueError(f"params.optimizer: unknown optimizer {name!r}; expected sgd or adam")
    return keras.optimizers.SGD(learning_rate=lr, momentum=float(params.get("momentum", 0.9)), weight_decay=decay)


def run(dataset_dir: Path, trial: Trial) -> None:
    tf, device = configure_tensorflow(trial.cpus, trial.seed)
    trial.use_device(device)
    params = trial.params
    classes, splits, epochs = for_trial(dataset_dir, trial)
    train, val, test = (Arrays(x, y) for x, y in splits)
    batch_size = int(params["batch_size"])
    model = build(tf, NETS.get(trial.job.model), len(classes), params, epochs * -(-len(train.y) // batch_size))
    run_epochs(trial, KerasLearner(tf, model, batch_size), train, val, test,
               {"classes": json.dumps(classes), "parameters": int(model.count_params())})
