"""What a budget may say: every hyperparameter each method reads, with its type, range and allowed words.

Plain facts with no framework imports: the sweep driver checks a budget against them when it loads it
(sweeps.budgets), before Ray starts, and the trainables take their allowed words from here, so a budget and the
code that reads it never disagree on a name. `Param.problem` says in one phrase what is wrong with a value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

AUGMENTATIONS = ("none", "flip_crop", "flip_crop_color", "flip_crop_color_affine")  # finetune_aug's policies
# how images are sized for evaluation and feature extraction (trainables/images/data.py): torchvision's reference
# preset (shorter side to size / 0.875, centre crop) or the course handout's Resize((size, size)), nothing cropped
PRESETS = ("reference", "handout")
CIFAR_AUGMENT = ("none", "flip_crop")  # scratch_cnn's, written in both frameworks: pad, random crop, flip
SCHEDULES = ("cosine", "step", "constant")
SCRATCH_SCHEDULES = ("cosine", "constant")  # the two both scratch_cnn twins implement
SCALERS = ("standard", "l2")
KERNELS = ("linear", "poly", "rbf", "sigmoid")  # sklearn.svm.SVC's
IMAGE_OPTIMIZERS = ("sgd", "adam")
TEXT_OPTIMIZERS = ("adam", "rmsprop")
POOLINGS = ("last", "max", "mean")  # the last state, or max / mean over every state of the real tokens
MODES = ("head", "head_lr", "all")  # and last<k>: the handout's fine-tuning modes
LAST_K = r"last[1-9][0-9]*"


@dataclass(frozen=True)
class Param:
    """One hyperparameter: `kind` int, float, bool or str; bounds (`ge`/`gt` below, `lt`/`le` above); the words it
    takes (a str's only values, or an int's words beside numbers, like max_len's `auto`) and a `pattern` for a
    family of words (`last<k>`)."""

    kind: type
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    words: tuple[str, ...] = ()
    pattern: str = ""  # a regex of further words; `spelled` says how it reads
    spelled: str = ""
    required: bool = False  # the trainable reads it without a default
    null: bool = False  # null (YAML ~) means "none" / "no cap"

    def expected(self) -> str:
        if self.kind is bool:
            return "true or false"
        words = list(self.words) + ([self.spelled] if self.spelled else [])
        if self.kind is str:
            return "one of " + ", ".join(words)
        number = "a whole number" if self.kind is int else "a number"
        bounds = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt)) if v is not None]
        if self.lt is not None or self.le is not None:
            low = self.ge if self.ge is not None else self.gt
            bounds = [f"in {'[' if self.ge is not None else '('}{low:g}, "
                      f"{self.le if self.le is not None else self.lt:g}{']' if self.le is not None else ')'}"]
        text = " ".join([number] + bounds)
        return text + "".join(f" or {w}" for w in words) + (" or null" if self.null else "")

    def problem(self, value: Any) -> str | None:
        """None when `value` is allowed, else 'expected ..., got ...'."""
        if self._allowed(value):
            return None
        return f"expected {self.expected()}, got {value!r}"

    def _allowed(self, value: Any) -> bool:
        if value is None:
            return self.null
        if isinstance(value, str):
            return value in self.words or bool(self.pattern and re.fullmatch(self.pattern, value))
        if self.kind is bool or isinstance(value, bool):
            return self.kind is bool and isinstance(value, bool)
        if self.kind is str or not isinstance(value, (int, float)) or (self.kind is int and value != int(value)):
            return False
        return not ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                    or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))


def word(*words: str, required: bool = False, pattern: str = "", spelled: str = "") -> Param:
    return Param(str, words=words, required=required, pattern=pattern, spelled=spelled)


LR = Param(float, gt=0, required=True)
FRACTION = Param(float, ge=0, lt=1, required=True)  # dropout
COUNT = Param(int, ge=1, required=True)  # batch sizes, widths, layers
DECAY = Param(float, ge=0)
MOMENTUM = Param(float, ge=0, lt=1)
EPOCHS = Param(int, ge=1)  # a searched epoch count, capped by the method's max_epochs
PATIENCE = Param(int, ge=1, null=True)  # epochs without a better validation accuracy before stopping

SVM = {"C": Param(float, gt=0, required=True), "kernel": word(*KERNELS, required=True),
       "scaler": word(*SCALERS, required=True), "preset": word(*PRESETS)}
FINETUNE = {"mode": word(*MODES, required=True, pattern=LAST_K, spelled="last<k> (e.g. last3)"), "lr": LR,
            "head_lr_mult": Param(float, gt=0, required=True),
            "momentum": replace(MOMENTUM, required=True), "weight_decay": replace(DECAY, required=True),
            "batch_size": COUNT, "schedule": word(*SCHEDULES),
            "clip": Param(float, gt=0, null=True), "epochs": EPOCHS, "patience": PATIENCE, "preset": word(*PRESETS)}
FINETUNE_AUG = FINETUNE | {"augment": word(*AUGMENTATIONS)}
SCRATCH = {"optimizer": word(*IMAGE_OPTIMIZERS), "lr": LR, "momentum": MOMENTUM, "weight_decay": DECAY,
           "batch_size": COUNT, "dropout": FRACTION, "augment": word(*CIFAR_AUGMENT),
           "schedule": word(*SCRATCH_SCHEDULES), "epochs": EPOCHS, "patience": PATIENCE}
RECURRENT = {"embed_dim": COUNT, "units": COUNT, "layers": COUNT, "bidirectional": Param(bool, required=True),
             "dropout": FRACTION, "lr": LR, "batch_size": COUNT, "optimizer": word(*TEXT_OPTIMIZERS),
             "pooling": word(*POOLINGS), "embed_dropout": Param(float, ge=0, lt=1),
             "max_len": Param(int, ge=1, words=("auto",)), "max_tokens": Param(int, ge=2, null=True),
             "epochs": EPOCHS, "patience": PATIENCE}
