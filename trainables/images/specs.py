"""Backbone facts for any name: the registered course backbones, or any torchvision classification model whose
head can be located (its last Linear layer). Importing this module is cheap; torch is imported only to derive
facts for an unregistered name.
"""
from __future__ import annotations

from functools import lru_cache

from core.registry import BACKBONES, BackboneSpec, UnknownNameError


@lru_cache(maxsize=None)
def backbone_spec(name: str) -> BackboneSpec:
    if name in BACKBONES:
        return BACKBONES.get(name)
    return _derive(name)


def _derive(name: str) -> BackboneSpec:
    import torch
    import torchvision
    from torchvision import models

    if name not in models.list_models(module=torchvision.models):
        raise UnknownNameError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES.names())} or any "
                               f"torchvision classification model (torchvision.models.list_models())")
    with torch.device("meta"):  # structure only: no memory, no initialisation cost
        model = models.get_model(name, weights=None)
    linears = [(path, m) for path, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise UnknownNameError(f"backbone {name!r}: no Linear head to replace; expected a classification model")
    head, layer = linears[-1]
    default = models.get_model_weights(name).DEFAULT
    crop = default.transforms().crop_size
    return BackboneSpec(name, int(crop[0] if isinstance(crop, (list, tuple)) else crop), layer.in_features,
                        head=head, weights=default.name)
