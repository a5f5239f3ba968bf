"""Registries keyed by the course's own names: DATA_KINDS, DATASETS, BACKBONES, NETS, METHODS, CELLS.

Entries are plain facts (no torch or TensorFlow imports here) so the sweep driver can validate a whole matrix
before any trial starts. Builders elsewhere turn the facts into models; there are no per-name branches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

from core import hparams
from core.hparams import Param

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> entry table with a duplicate-name error and a helpful unknown-name error."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())


@dataclass(frozen=True)
class DataKindSpec:
    """A kind of dataset files (trainables.data.kinds: the protocol every kind implements, loaded by name).

    `infer_order`: a folder is tried against the kinds in this order (CIFAR's three pickles before an ImageFolder,
    which any folder of folders would pass); `content_fingerprint`: the fingerprint hashes the bytes (a CSV edited
    in place keeps its name and maybe its size), not just paths and sizes (thousands of images)."""

    name: str
    part: int  # the course part whose methods read it
    layout: str  # how its files are laid out under <data-root>/<name>, for messages
    protocol: str  # "module:object" implementing trainables.data.kinds.DataKind
    infer_order: int
    content_fingerprint: bool = False
    named_columns: bool = False  # its files name a text and a label column (recorded in sweep.json)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    part: int
    kind: str  # "images" (ImageFolder tree), "text" (train.csv / test.csv) or "cifar" (CIFAR's python pickles)
    source: str
    n_classes: int
    n_train: int
    n_test: int
    vocab: int | None = None  # the course's vocabulary size (text only)
    # text: the 95th percentile of its training texts' token counts, what `max_len: auto` chooses before the
    # budget's cap (measured on the course's files; the plan prices a trial's sequence length from it)
    auto_len: int | None = None


@dataclass(frozen=True)
class BackboneSpec:
    """Facts about one torchvision classifier; `trainables.images.backbones.build` does the rest."""

    name: str
    input_size: int
    feature_dim: int  # penultimate feature width = in_features of the head
    head: str  # dotted path of the final Linear to drop / replace
    aux_head: str | None = None  # Inception's auxiliary classifier, trained alongside the main head
    aux_flag: str | None = None  # the model attribute that switches the auxiliary branch on
    aux_min_size: int | None = None  # below this input size the auxiliary branch cannot run; it is dropped
    min_size: int = 32  # smallest input the architecture accepts (smoke budgets shrink images)
    weights: str = "IMAGENET1K_V1"  # torchvision weights enum member used for --weights imagenet
    gflops: float = 0.0  # one forward pass at input_size (torchvision's weights metadata, `_ops`)

    def size_for(self, requested: int | None) -> int:
        """The input side a trial uses: the backbone's own, or a budget's smaller size (never below min_size)."""
        return self.input_size if requested is None else max(int(requested), self.min_size)

    def gflops_at(self, side: float) -> float:
        """One forward pass at `side` px: convolutions' work grows with the pixels (the classifier's, a small part
        of it, does not; nor does an adaptive pool's output)."""
        return self.gflops * (side / self.input_size) ** 2


@dataclass(frozen=True)
class NetSpec:
    """A network trained from scratch (the handout's CIFAR-100 warm-up), written once per framework from these facts:
    `len(channels)` blocks of 3x3 conv (same padding) + ReLU + 2x2 max-pool, then a hidden Dense + ReLU, dropout and
    the classifier."""

    name: str
    input_size: int
    channels: tuple[int, ...]
    hidden: int


@dataclass(frozen=True)
class MethodSpec:
    name: str
    part: int
    trainables: dict[str, str]  # framework -> "module:function" run(dataset_dir, trial); the first is the default
    epoch_based: bool  # reports every epoch (ASHA can stop it early)
    kinds: tuple[str, ...]  # the kinds of dataset it reads (DatasetSpec.kind)
    models: str  # the registry its model names come from: "backbones", "cells" or "nets"
    augment: bool = False
    # searched parameters whose values the handout asks students to compare: the report shows the best trial
    # (by validation) for each of their values
    variants: tuple[str, ...] = ()
    # every hyperparameter its trainables read (core.hparams): a budget's space is checked against it at load
    params: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)
    # the plan's estimate without a measured run (sweeps.cost.estimate): hours of one trial-epoch (a one-shot method:
    # of its one fit) on one A10G-class GPU at the full budget's sizes (a few thousand images at native
    # resolution, up to 14k texts of up to 400 tokens)
    hours_per_epoch: float = 0.01

    @property
    def framework(self) -> str:
        return next(iter(self.trainables))

    def frameworks_for(self, requested: tuple[str, ...]) -> tuple[str, ...]:
        """Job.framework values for --frameworks: each requested one this method has ("" for its default), else
        its default alone (the image methods are PyTorch only)."""
        mine = tuple(dict.fromkeys("" if f == self.framework else f for f in requested if f in self.trainables))
        return mine or ("",)

    def trainable(self, framework: str | None = None) -> str:
        framework = framework or self.framework
        if framework not in self.trainables:
            raise UnknownNameError(f"method {self.name!r} has no {framework!r} version; valid: "
                                   f"{', '.join(self.trainables)}")
        return self.trainables[framework]


@dataclass(frozen=True)
class CellSpec:
    name: str
    keras_layer: str
    torch_module: str
    gates: int  # input-and-recurrent matrix products per step (the plan's work per token, sweeps.cost.model)


DATA_KINDS: Registry[DataKindSpec] = Registry("data kind")
DATASETS: Registry[DatasetSpec] = Registry("dataset")
BACKBONES: Registry[BackboneSpec] = Registry("backbone")
NETS: Registry[NetSpec] = Registry("network")
METHODS: Registry[MethodSpec] = Registry("method")
CELLS: Registry[CellSpec] = Registry("cell")

for _k in (
    DataKindSpec("images", 1, "<name>/{train,test}/<class>/<image>", "trainables.images.files:IMAGES", infer_order=2),
    DataKindSpec("text", 2, "<name>/{train,test}.csv", "trainables.text.data:TEXT", infer_order=1,
                 content_fingerprint=True, named_columns=True),
    DataKindSpec("cifar", 1, "<name>/cifar-100-python/{train,test,meta}", "trainables.images.cifar:CIFAR",
                 infer_order=0),
):
    DATA_KINDS.register(_k.name, _k)

for _d in (
    DatasetSpec("animals", 1, "images", "iNat2017 mammals", 9, 1384, 466),
    DatasetSpec("faces", 1, "images", "Labeled Faces in the Wild", 31, 1021, 439),
    DatasetSpec("places", 1, "images", "Places", 9, 1437, 367),
    DatasetSpec("household", 1, "images", "iMaterialist 2018", 9, 1383, 375),
    DatasetSpec("caltech101", 1, "images", "Caltech101 subset", 30, 1500, 450),
    DatasetSpec("sentiment", 2, "text", "movie review sentence polarity", 2, 7996, 2666, 18298, auto_len=34),
    DatasetSpec("spam", 2, "text", "Enron spam", 2, 3879, 1293, 28049, auto_len=561),
    DatasetSpec("questions", 2, "text", "TREC question classification (fine)", 50, 4464, 1488, 7694, auto_len=15),
    DatasetSpec("newsgroups", 2, "text", "20 Newsgroups", 20, 14121, 4707, 160792, auto_len=743),
    DatasetSpec("cifar100", 1, "cifar", "CIFAR-100 (the handout's warm-up)", 100, 50000, 10000),
):
    DATASETS.register(_d.name, _d)

for _b in (
    BackboneSpec("alexnet", 224, 4096, head="classifier.6", min_size=63, gflops=0.714),
    BackboneSpec("vgg16", 224, 4096, head="classifier.6", gflops=15.47),
    BackboneSpec("resnet18", 224, 512, head="fc", gflops=1.814),
    BackboneSpec("inception_v3", 299, 2048, head="fc", aux_head="AuxLogits.fc", aux_flag="aux_logits",
                 aux_min_size=299, min_size=75, gflops=5.713),
    BackboneSpec("densenet121", 224, 1024, head="classifier", gflops=2.834),
    BackboneSpec("mobilenet_v2", 224, 1280, head="classifier.1", gflops=0.301),
):
    BACKBONES.register(_b.name, _b)

NETS.register("small_cnn", NetSpec("small_cnn", 32, channels=(32, 64, 128), hidden=256))

_TRANSFER = {"kinds": ("images",), "models": "backbones"}
for _m in (
    MethodSpec("features_svm", 1, {"torch": "trainables.images.feature_svm:run"}, epoch_based=False,
               variants=("kernel",), params=hparams.SVM, hours_per_epoch=0.02, **_TRANSFER),
    MethodSpec("finetune", 1, {"torch": "trainables.images.finetune:run"}, epoch_based=True, variants=("mode",),
               params=hparams.FINETUNE, **_TRANSFER),
    MethodSpec("finetune_aug", 1, {"torch": "trainables.images.finetune:run"}, epoch_based=True, augment=True,
               variants=("mode", "augment"), params=hparams.FINETUNE_AUG, hours_per_epoch=0.012, **_TRANSFER),
    # The handout's warm-up: a small CNN from scratch on CIFAR-100, in PyTorch and in TensorFlow.
    MethodSpec("scratch_cnn", 1, {"torch": "trainables.images.scratch:run",
                                  "tensorflow": "trainables.images.scratch_keras:run"},
               epoch_based=True, kinds=("cifar",), models="nets", variants=("augment",),
               params=hparams.SCRATCH, hours_per_epoch=0.005),  # 50,000 CIFAR images of 32 x 32
    # The handout uses TensorFlow; its appendix's PyTorch twin is selectable per job (framework=torch).
    MethodSpec("recurrent", 2, {"tensorflow": "trainables.text.rnn:run", "torch": "trainables.text.rnn_torch:run"},
               epoch_based=True, kinds=("text",), models="cells", variants=("pooling", "bidirectional"),
               params=hparams.RECURRENT),
):
    METHODS.register(_m.name, _m)

for _c in (
    CellSpec("rnn", "SimpleRNN", "RNN", gates=1),
    CellSpec("lstm", "LSTM", "LSTM", gates=4),
    CellSpec("gru", "GRU", "GRU", gates=3),
):
    CELLS.register(_c.name, _c)


def list_datasets(part: int | None = None) -> list[str]:
    return [d.name for d in DATASETS if part is None or d.part == part]


def list_backbones() -> list[str]:
    return BACKBONES.names()


def list_methods(part: int | None = None) -> list[str]:
    return [m.name for m in METHODS if part is None or m.part == part]


def list_cells() -> list[str]:
    return CELLS.names()


def list_nets() -> list[str]:
    return NETS.names()


def fits(method: MethodSpec, model: str) -> bool:
    """Whether `model` names something `method` trains (any torchvision classifier counts as a backbone)."""
    if method.models == "cells":
        return model in CELLS
    if method.models == "nets":
        return model in NETS
    return model not in CELLS and model not in NETS
