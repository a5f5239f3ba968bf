"""One builder over the BACKBONES fact table: load weights, locate the head, drop or replace it, freeze, place.

No per-model branches: every difference between architectures is a fact in `BackboneSpec` (head path, auxiliary
head, input size). Models whose outputs carry an auxiliary head (Inception while training) are handled by shape.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from trainables.images.specs import backbone_spec
from core.registry import BackboneSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(RuntimeError):
    """Pretrained weights are not in the local cache and cannot be downloaded."""


def weights_file(spec: BackboneSpec) -> Path:
    """Where torchvision looks for this backbone's pretrained file ($TORCH_HOME/hub/checkpoints/<file>)."""
    weights = models.get_model_weights(spec.name)[spec.weights]
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def load(name: str, weights: str) -> nn.Module:
    """The torchvision model `name` with ImageNet weights ("imagenet") or random initialisation ("random")."""
    spec = backbone_spec(name)
    if weights == "random":
        return models.get_model(name, weights=None)
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or 'random', got {weights!r}")
    enum = models.get_model_weights(name)[spec.weights]
    try:
        return models.get_model(name, weights=enum)
    except Exception as exc:  # offline: urllib raises URLError / OSError inside torch.hub
        expected = weights_file(spec)
        if expected.exists():  # found but unreadable: say so, not "not found"
            from trainables.images.prefetch import replace_command, weights_problem

            problem = weights_problem(expected) or f"{expected}: unreadable weights file ({type(exc).__name__})"
            raise WeightsError(f"{problem}; replace it with `{replace_command([name], expected.parents[2])}` "
                               f"where there is internet") from None
        raise WeightsError(f"{name}: ImageNet weights not found at {expected} and could not be downloaded "
                           f"({type(exc).__name__}); run `groupsweep weights prefetch {name} --dest DIR` "
                           f"where there is internet and set TORCH_HOME=DIR, or pass --weights random") from None


LSUV_TYPES = (nn.Conv2d,)


@torch.no_grad()
def unit_variance_init(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Random weights with usable scales: each Conv2d / Linear, in the order one forward pass of `x` (a batch of
    training images) reaches it, is rescaled so its output on that batch has unit variance — LSUV (Mishkin & Matas,
    "All you need is a good init", 2016) without its orthonormal step, in a single pass (a hook rescales a layer and
    hands the rescaled output on, so the layers after it see what they will see from now on). PyTorch's default
    initialisation shrinks activations in nets without BatchNorm (VGG16's penultimate features come out ~1e-9), which
    leaves a head trained on them, or a whole net trained from scratch, at chance for many epochs."""
    def rescale(layer: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        std = float(output.float().std())
        if std > 0 and std == std:
            layer.weight.div_(std)
            if layer.bias is not None:
                layer.bias.div_(std)
            return output / std
        return output

    hooks = [m.register_forward_hook(rescale) for m in model.modules() if isinstance(m, LSUV_TYPES)]
    training = model.training
    try:
        model.eval()(x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(training)
    return model


def get_module(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def set_module(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, child = dotted.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def drop_aux_branch(model: nn.Module, spec: BackboneSpec) -> None:
    """Remove the auxiliary classifier branch (not needed for features, impossible below aux_min_size)."""
    setattr(model, spec.aux_flag, False)
    set_module(model, spec.aux_head.rpartition(".")[0], None)


def uses_aux(spec: BackboneSpec, size: int) -> bool:
    return bool(spec.aux_head) and size >= (spec.aux_min_size or 0)


def feature_extractor(name: str, weights: str) -> nn.Module:
    """The backbone with its last Linear layer dropped: outputs the penultimate features, in eval mode."""
    spec = backbone_spec(name)
    model = load(name, weights)
    set_module(model, spec.head, nn.Identity())
    if spec.aux_head:
        drop_aux_branch(model, spec)
    return model.eval()


def classifier(name: str, n_classes: int, weights: str, size: int) -> nn.Module:
    """The backbone with its head (and auxiliary head, when `size` allows it) replaced by `n_classes` Linears."""
    spec = backbone_spec(name)
    model = load(name, weights)
    if spec.aux_head and not uses_aux(spec, size):
        drop_aux_branch(model, spec)
    heads = [spec.head] + ([spec.aux_head] if uses_aux(spec, size) else [])
    for path in heads:
        set_module(model, path, nn.Linear(get_module(model, path).in_features, n_classes))
    return model


def head_paths(spec: BackboneSpec, model: nn.Module) -> list[str]:
    """The head and, when the model still has it, the auxiliary head."""
    aux = spec.aux_head and getattr(model, spec.aux_flag, False)
    return [spec.head] + ([spec.aux_head] if aux else [])


def head_parameters(model: nn.Module, spec: BackboneSpec) -> list[nn.Parameter]:
    return [p for path in head_paths(spec, model) for p in get_module(model, path).parameters()]


def last_layers_parameters(model: nn.Module, spec: BackboneSpec, k: int) -> list[nn.Parameter]:
    """Parameters of the last `k` weight layers (Conv/Linear, head included) and every layer after the first.

    Layers are leaf modules in registration order; the auxiliary head is always trained with the main head.
    """
    paths = head_paths(spec, model)
    aux_prefix = f"{paths[1].rpartition('.')[0]}." if len(paths) > 1 else None
    leaves = [(n, m) for n, m in model.named_modules()
              if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
              and not (aux_prefix and n.startswith(aux_prefix))]
    weight_layers = [i for i, (_, m) in enumerate(leaves) if isinstance(m, (nn.Conv2d, nn.Linear))]
    start = weight_layers[-k] if k <= len(weight_layers) else 0
    chosen = [p for _, m in leaves[start:] for p in m.parameters(recurse=False)]
    return chosen + ([p for p in get_module(model, paths[1]).parameters()] if aux_prefix else [])


def param_groups(model: nn.Module, spec: BackboneSpec, mode: str, lr: float, head_lr_mult: float) -> list[dict]:
    """Freeze per the handout's fine-tuning modes and return SGD parameter groups.

    head: only the new head trains; head_lr: everything trains, the head at lr * head_lr_mult;
    last<k> (e.g. last3): the last k weight layers train; all: everything trains at one rate.
    """
    head = head_parameters(model, spec)
    head_ids = {id(p) for p in head}
    if mode == "head":
        trainable = head
    elif mode.startswith("last") and mode[4:].isdigit() and int(mode[4:]) > 0:
        trainable = last_layers_parameters(model, spec, int(mode[4:]))
    elif mode in ("all", "head_lr"):
        trainable = list(model.parameters())
    else:
        raise ValueError(f"params.mode: unknown fine-tuning mode {mode!r}; expected head, head_lr, last<k> "
                         f"(e.g. last3) or all")
    trainable_ids = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable_ids)
    body = [p for p in trainable if id(p) not in head_ids]
    mult = head_lr_mult if mode == "head_lr" else 1.0
    groups = [{"params": [p for p in model.parameters() if id(p) in head_ids], "lr": lr * mult}]
    return groups + ([{"params": body, "lr": lr}] if body else [])


def set_train_mode(model: nn.Module) -> nn.Module:
    """Training mode for what trains, evaluation mode for what is frozen: a frozen BatchNorm keeps its running
    statistics, and the frozen body's output stays what features_svm and the head-on-features path see. A leaf
    layer with parameters trains when any of them does; one without (dropout, activations) goes with the layer
    before it, whose output it acts on."""
    model.train()
    trains = False
    for leaf in (m for m in model.modules() if not list(m.children())):
        own = list(leaf.parameters(recurse=False))
        trains = any(p.requires_grad for p in own) if own else trains
        leaf.train(trains)
    return model


