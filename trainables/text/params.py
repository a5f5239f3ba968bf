"""The recurrent search knobs both frameworks read, with their allowed values and defaults, so a bad value in a
budget gets the same one-line error from the Keras model and its PyTorch twin."""
from __future__ import annotations

from core.hparams import POOLINGS, TEXT_OPTIMIZERS as OPTIMIZERS


def choice(params: dict, key: str, allowed: tuple, default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        raise ValueError(f"params.{key}: unknown value {value!r}; expected one of {allowed}")
    return value


def optimizer(params: dict) -> str:
    return choice(params, "optimizer", OPTIMIZERS, "adam")


def pooling(params: dict) -> str:
    return choice(params, "pooling", POOLINGS, "last")


def embed_dropout(params: dict) -> float:
    return float(params.get("embed_dropout", 0.0))
