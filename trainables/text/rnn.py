"""recurrent: random-init Embedding -> SimpleRNN / LSTM / GRU (stacked, optionally bidirectional) -> Dense.

TensorFlow/Keras, as in the course handout. The cell type comes from the CELLS registry (its Keras layer name).
Reports every epoch with a checkpoint (the whole Keras model, optimizer state included) and resumes from it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trainables.common import accuracy, classification_metrics, stratified_split
from trainables.report import flatten_metrics
from trainables.registry import CELLS, DATASETS
from trainables.text.data import TextSplit, load_text_data
from trainables.trial import Trial


def configure_tensorflow(cpus: int, seed: int):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # share the card with other trials
    tf.keras.utils.set_random_seed(seed)
    gpus = tf.config.list_physical_devices("GPU")
    return tf, ("gpu:" + gpus[0].name if gpus else "cpu")


def vectorize(tf, train: TextSplit, others: list[TextSplit], max_tokens: int, max_len: int):
    """Fit the vocabulary on train only; return int sequences (0 = padding) for train and `others`."""
    vectorizer = tf.keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=max_len)
    vectorizer.adapt(tf.constant(train.texts))
    encode = lambda split: vectorizer(tf.constant(split.texts)).numpy() if split.texts else np.zeros((0, max_len))
    return len(vectorizer.get_vocabulary()), encode(train), [encode(s) for s in others]


def build_model(tf, vocab: int, n_classes: int, cell: str, params: dict):
    keras = tf.keras
    layer_cls = getattr(keras.layers, CELLS.get(cell).keras_layer)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(vocab, int(params["embed_dim"]), mask_zero=True)(inputs)
    layers = int(params["layers"])
    for i in range(layers):
        rnn = layer_cls(int(params["units"]), return_sequences=i < layers - 1)
        x = keras.layers.Bidirectional(rnn)(x) if params["bidirectional"] else rnn(x)
    x = keras.layers.Dropout(float(params["dropout"]))(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    if params["optimizer"] not in optimizers:
        raise ValueError(f"params.optimizer: unknown optimizer {params['optimizer']!r}; expected {sorted(optimizers)}")
    model.compile(optimizer=optimizers[params["optimizer"]](learning_rate=float(params["lr"])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(dataset_dir: Path, trial: Trial) -> None:
    tf, trial.device = configure_tensorflow(trial.cpus, trial.seed)
    params, dataset = trial.params, trial.cell["dataset"]
    text_budget = trial.budget["text"]
    with trial.phase("extract"):
        classes, train_full, test = load_text_data(dataset_dir, text_budget, trial.spec["data_seed"])
        keep, held = stratified_split(train_full.y, trial.budget["val_fraction"], trial.spec["data_seed"])
        train = TextSplit([train_full.texts[i] for i in keep], train_full.y[keep])
        val = TextSplit([train_full.texts[i] for i in held], train_full.y[held])
        course_vocab = DATASETS.get(dataset).vocab if dataset in DATASETS else None
        max_tokens = int(text_budget.get("max_tokens") or course_vocab or 20000)
        vocab, x_train, (x_val, x_test) = vectorize(tf, train, [val, test], max_tokens, int(params["max_len"]))

    model = build_model(tf, vocab, len(classes), trial.cell["model"], params)
    trial.values["classes"] = json.dumps(classes)
    start = 0
    with trial.resume() as folder:
        if folder is not None:
            model = tf.keras.models.load_model(folder / "model.keras")
            start = int(trial.values["epochs"])

    max_epochs, batch_size = int(trial.spec["max_epochs"]), int(params["batch_size"])
    trained = 0
    for epoch in range(start + 1, max_epochs + 1):
        with trial.phase("fit"):
            hist = model.fit(x_train, train.y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
        trained += len(train.y)
        predict = lambda x: model.predict(x, batch_size=256, verbose=0).argmax(1) if len(x) else np.zeros(0)
        final = epoch == max_epochs
        splits = {"train": {"loss": float(hist.history["loss"][-1]), "acc": float(hist.history["accuracy"][-1])},
                  "val": {"acc": accuracy(val.y, predict(x_val))}}
        if final:  # test is touched once, at the end
            splits["test"] = classification_metrics(test.y, predict(x_test), detail=True)
        metrics = flatten_metrics(splits) | {"items_per_s": trained / max(trial.values.get("fit_s", 0.0), 1e-9)}
        trial.report_epoch(epoch, metrics, final, save=lambda d: model.save(d / "model.keras"))
