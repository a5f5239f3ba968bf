"""The typed plan: what the driver decides for each trial, as frozen dataclasses every stage reads.

The planner (sweeps.planning.plan_trials) builds one `TrialSpec` per trial from a budget that was validated when it
loaded (sweeps.budgets); Tune carries it as `asdict(spec)` in the trial's config and `run_trial` rebuilds it with
`TrialSpec.from_config`, so a trainable reads `trial.spec.images.image_size`, never a key of an untyped dict.
No framework imports here: the driver, the trials and the analysis all read it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Job:
    """A job: one unit of work of a sweep — a dataset, a model (backbone, recurrent cell type or scratch net) and a
    method, in one framework. Its trials are the method's sampled configurations; groups assigned the same job share
    its results, and its key is what rows, tables and the report join on."""

    part: int
    dataset: str
    model: str  # a backbone name (Part 1), a recurrent cell type (Part 2) or a network trained from scratch
    method: str
    framework: str = ""  # empty: the method's default framework (see METHODS)

    @property
    def key(self) -> str:
        suffix = f"-{self.framework}" if self.framework else ""
        return f"p{self.part}-{self.dataset}-{self.model}-{self.method}{suffix}"


@dataclass(frozen=True)
class ImageCaps:
    """How much of an image dataset a trial reads, and at what size (a budget's `images:`)."""

    image_size: int | None = None  # square side; None = each backbone's own input size (never below its minimum)
    max_train_per_class: int | None = None  # None = every image
    max_test_per_class: int | None = None


@dataclass(frozen=True)
class TextCaps:
    """How much of a text dataset a trial reads (a budget's `text:`)."""

    max_train: int | None = None  # sentences, stratified; None = every one
    max_test: int | None = None
    max_tokens: int | None = None  # vocabulary cap; None = the course's vocabulary size (a searched one wins)
    max_len_cap: int = 400  # the longest sequence `max_len: auto` may choose


@dataclass(frozen=True)
class Resources:
    """What each trial asks Ray for (a budget's `resources:`; --cpus-per-trial / --gpus-per-trial win)."""

    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0  # used only when the cluster has GPUs; fractions share a card


@dataclass(frozen=True)
class Asha:
    """Early stopping within one job (sweeps.scheduling): rungs from `grace_period` epochs, keeping 1 in
    `reduction_factor` trials at each."""

    grace_period: int = 1
    reduction_factor: float = 2.0


@dataclass(frozen=True)
class DataRef:
    """One dataset as a trial finds it: where, how its files are laid out, and what the driver saw there."""

    location: str  # a folder, or an object-store URI each node copies (trainables.data.sync)
    kind: str  # images, text or cifar (core.registry.DATA_KINDS)
    layout: dict[str, Any]  # Layout.to_spec(): how the files are read
    fingerprint: str  # the driver's fingerprint of the files: cache keys and the node check use it
    counts: dict[str, int | None] = field(default_factory=dict)  # classes / train / test files, for the rows
    split: str | None = None  # the manifest of a test split held out by the sweep (sweeps.datasets.make_split)
    held_out: dict[str, Any] | None = None  # that split's {test_fraction, split_seed}, for the rows
    verify: bool = False  # a local folder on a cluster of machines: each trial checks its node holds the same


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs, decided by the driver."""

    trial_id: str  # <job key>-<sample>-<digest of params>
    job: Job
    sample: int  # which of the job's sampled configurations
    framework: str  # torch or tensorflow: the trainable that runs it
    epoch_based: bool  # reports every epoch (ASHA may stop it)
    params: dict[str, Any]  # the sampled configuration, checked against core.hparams when the budget loaded
    seed: int  # this trial's own: initialisation, shuffling
    data_seed: int  # the sweep's: caps and the validation split, the same for every trial of a dataset
    sweep_id: str
    results_dir: str  # <storage>/<sweep-id>: rows, history, predictions, checkpoints
    cache_dir: str  # decoded images and features, shared by every trial on a node; "" = none (--no-cache)
    data: DataRef
    weights: str  # imagenet or random
    max_epochs: int  # the method's cap; a searched `epochs` may ask for fewer
    val_fraction: float  # of the training files, held out for selection (never the test split)
    checkpoint_every: int  # epochs between checkpoints; 0 = none
    max_failures: int = 1  # of this driver run's starts that may fail (a lost node is none; trainables.faults)
    search: str = "random"  # random: params drawn by the plan; tpe: params {} until the searcher asks (sweeps.search)
    images: ImageCaps = ImageCaps()
    text: TextCaps = TextCaps()
    param_types: dict[str, str] = field(default_factory=dict)  # param_<name> -> column type, one for the sweep
    git_sha: str = "unknown"
    cpus: int = 1
    gpus: float = 0.0

    @property
    def epochs(self) -> int:
        """The epochs this trial trains: its searched `epochs`, capped by the method's `max_epochs`."""
        return min(int(self.params.get("epochs", self.max_epochs)), int(self.max_epochs))

    def to_config(self) -> dict[str, Any]:
        """Plain values for Tune's config (and JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialSpec":
        nested = {"job": Job, "data": DataRef, "images": ImageCaps, "text": TextCaps}
        return cls(**{key: nested[key](**value) if key in nested else value for key, value in config.items()})

    def replace(self, **changes: Any) -> "TrialSpec":
        return dataclasses.replace(self, **changes)
