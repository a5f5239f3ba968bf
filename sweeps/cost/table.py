"""Measured rates of one device (sweeps/costs/<name>.yaml), read by the cost model (sweeps.cost.model).

A table is what `bench/cost_table.py` measured on one machine, with as many measuring copies at once as trials run
there at once: how fast each backbone runs forward (GFLOP/s at a few input sides) and trains per fine-tuning mode
(per image, as forward GFLOP/s, plus the optimiser's cost per step), how fast each cell type trains and predicts
(per call, per recurrent step, per recurrent weight a batch reads, per FLOP) and how long its first epoch and first
prediction trace, the imports, the decoding of an image, the SVM's fit, and a local sweep's time outside its trials.
It names the machine, the date and the command, so a plan priced from it says where its figures came from.

    card: Intel(R) Xeon(R) Platinum 8488C, 2 cores
    device: cpu                 # cpu or gpu: which plans it prices
    date: 2026-12-07
    command: python bench/cost_table.py --out sweeps/costs/cpu-2core.yaml
    slots: 2                    # measuring copies at once
    import_s: {torch: 3.4, tensorflow: 4.4}
    sweep: {start_s: 20.0, end_s: 3.0, per_trial_s: 0.4}
    images: {decode_ms: {photo: 2.1, demo: 0.4}, head_ms_per_item: 0.01}
    svm: {fit_ns_per_n2d: 0.02}
    text: {extract: {fixed_s: 0.1, ms_per_item: 0.05}}
    backbones:
      resnet18: {build_s: 0.3, train_side: 32, forward: {32: 9.1, 96: 20.3, 160: 22.0},
                 train: {all: {gflop_s: 4.1, step_ms: 20}, last3: {...}, head: {...}}}
    cells:
      lstm: {build_s: 0.2, train: {call_ms: 40, step_us: 90, weight_ns: 0.5, gflop_s: 3.2}, predict: {...},
             trace_train: {fixed_s: 1.1, per_layer_s: 0.4}, trace_predict: {...}}
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from core import yamlfile

COST_DIR = Path(__file__).resolve().parents[1] / "costs"
FIELDS = ("card", "device", "date", "command", "slots", "import_s", "sweep", "images", "svm", "text", "backbones",
          "cells")
MODES = ("all", "last3", "head")  # head_lr trains what `all` trains


class CostTableError(ValueError):
    """A cost table is missing or malformed."""


@dataclass(frozen=True)
class Throughput:
    """A cell type training or predicting: seconds = calls x call_ms + per batch, for each token, its recurrent steps
    (layers x directions) x step_us and its recurrent weights x weight_ns (a small batch is bound by reading them) +
    FLOPs / gflop_s."""
    call_ms: float
    step_us: float
    weight_ns: float
    gflop_s: float


@dataclass(frozen=True)
class Trace:
    """A Keras function's first call: fixed_s + per recurrent layer (and direction) per_layer_s."""
    fixed_s: float
    per_layer_s: float


@dataclass(frozen=True)
class CellRates:
    build_s: float
    train: Throughput
    predict: Throughput
    trace_train: Trace
    trace_predict: Trace


@dataclass(frozen=True)
class ModeRates:
    gflop_s: float  # forward GFLOPs of the training images per second (their backward pass included)
    step_ms: float  # the optimiser's step and the rest of a batch that does not grow with its images


@dataclass(frozen=True)
class BackboneRates:
    build_s: float
    forward: dict[int, float]  # input side -> forward GFLOP/s
    train: dict[str, ModeRates]
    train_side: int  # the side the training rates were measured at

    def forward_rate(self, side: float) -> float:
        """GFLOP/s at `side`: interpolated between measured sides in log side, held beyond them."""
        return interpolate(self.forward, side)

    def train_rate(self, mode: str, side: float) -> float:
        """A mode's training GFLOP/s at `side`: its measured rate, scaled as the forward rate scales with the side."""
        measured = self.train[MODES[0] if mode == "head_lr" else mode]
        return measured.gflop_s * self.forward_rate(side) / self.forward_rate(self.train_side)


@dataclass(frozen=True)
class CostTable:
    path: str
    card: str
    device: str  # "gpu" or "cpu"
    date: str
    command: str
    slots: int
    import_s: dict[str, float]  # framework -> a worker process's first import of it
    sweep: dict[str, float]  # start_s, end_s, per_trial_s
    decode_ms: dict[str, float]  # photo (a course image), demo (a generated drawing)
    head_ms_per_item: float
    svm_ns_per_n2d: float
    text_extract: dict[str, float]  # fixed_s, ms_per_item: vectorising a dataset's texts
    backbones: dict[str, BackboneRates]
    cells: dict[str, CellRates]

    @property
    def name(self) -> str:
        return Path(self.path).name


def interpolate(points: dict[int, float], side: float) -> float:
    sides = sorted(points)
    if side <= sides[0]:
        return points[sides[0]]
    if side >= sides[-1]:
        return points[sides[-1]]
    upper = next(s for s in sides if s >= side)
    lower = max(s for s in sides if s <= side)
    if upper == lower:
        return points[upper]
    w = math.log(side / lower) / math.log(upper / lower)
    return points[lower] * (1 - w) + points[upper] * w


def _number(where: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise CostTableError(f"{where}: expected a {'positive' if positive else 'non-negative'} number, "
                             f"got {value!r}")
    return float(value)


def _mapping(where: str, value: object, keys: tuple[str, ...] | None = None) -> dict:
    if not isinstance(value, dict) or (keys is not None and set(value) != set(keys)):
        raise CostTableError(f"{where}: expected a mapping of {', '.join(keys) if keys else 'entries'}, "
                             f"got {value!r:.120}")
    return value


def _numbers(where: str, value: object, keys: tuple[str, ...], positive: tuple[str, ...] = ()) -> dict[str, float]:
    value = _mapping(where, value, keys)
    return {k: _number(f"{where}.{k}", value[k], k in positive) for k in keys}


def _backbone(where: str, raw: object) -> BackboneRates:
    raw = _mapping(where, raw, ("build_s", "forward", "train", "train_side"))
    forward = {int(side): _number(f"{where}.forward.{side}", rate, positive=True)
               for side, rate in _mapping(f"{where}.forward", raw["forward"]).items()}
    if not forward:
        raise CostTableError(f"{where}.forward: expected GFLOP/s at one input side at least")
    train = {mode: ModeRates(**_numbers(f"{where}.train.{mode}", rates, ("gflop_s", "step_ms"), ("gflop_s",)))
             for mode, rates in _mapping(f"{where}.train", raw["train"], MODES).items()}
    side = int(_number(f"{where}.train_side", raw["train_side"], positive=True))
    return BackboneRates(_number(f"{where}.build_s", raw["build_s"]), forward, train, side)


def _cell(where: str, raw: object) -> CellRates:
    raw = _mapping(where, raw, ("build_s", "train", "predict", "trace_train", "trace_predict"))
    through = {k: Throughput(**_numbers(f"{where}.{k}", raw[k], ("call_ms", "step_us", "weight_ns", "gflop_s"),
                                        ("gflop_s",)))
               for k in ("train", "predict")}
    traces = {k: Trace(**_numbers(f"{where}.{k}", raw[k], ("fixed_s", "per_layer_s")))
              for k in ("trace_train", "trace_predict")}
    return CellRates(_number(f"{where}.build_s", raw["build_s"]), **through, **traces)


def load_cost_table(path: str | Path) -> CostTable:
    """One table, checked whole: every field present and typed; an error names the file and the field."""
    path = Path(path)
    try:
        raw = yamlfile.loads(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CostTableError(yamlfile.describe_error(path, exc)) from None
    if not isinstance(raw, dict) or set(raw) != set(FIELDS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CostTableError(f"{path}: expected the fields {', '.join(FIELDS)}; got {got}")
    if raw["device"] not in ("gpu", "cpu"):
        raise CostTableError(f"{path}: device: expected gpu or cpu, got {raw['device']!r}")
    images = _mapping(f"{path}: images", raw["images"], ("decode_ms", "head_ms_per_item"))
    return CostTable(
        str(path), str(raw["card"]), raw["device"], str(raw["date"]), str(raw["command"]),
        int(_number(f"{path}: slots", raw["slots"], positive=True)),
        _numbers(f"{path}: import_s", raw["import_s"], ("torch", "tensorflow")),
        _numbers(f"{path}: sweep", raw["sweep"], ("start_s", "end_s", "per_trial_s")),
        _numbers(f"{path}: images.decode_ms", images["decode_ms"], ("photo", "demo")),
        _number(f"{path}: images.head_ms_per_item", images["head_ms_per_item"]),
        _numbers(f"{path}: svm", raw["svm"], ("fit_ns_per_n2d",))["fit_ns_per_n2d"],
        _numbers(f"{path}: text.extract", _mapping(f"{path}: text", raw["text"], ("extract",))["extract"],
                 ("fixed_s", "ms_per_item")),
        {str(k): _backbone(f"{path}: backbones.{k}", v)
         for k, v in _mapping(f"{path}: backbones", raw["backbones"]).items()},
        {str(k): _cell(f"{path}: cells.{k}", v) for k, v in _mapping(f"{path}: cells", raw["cells"]).items()})


@functools.lru_cache(maxsize=32)
def _loaded(path: str, mtime_ns: int, size: int) -> CostTable:
    """A table read once per version of its file: a plan asks for its tables once per job."""
    return load_cost_table(path)


def table_for(device: str, folder: Path = COST_DIR) -> CostTable | None:
    """The newest table measured on this kind of device ("cpu" or "gpu"), or None."""
    tables = [_loaded(str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.yaml"))]
    mine = sorted((t for t in tables if t.device == device), key=lambda t: t.date)
    return mine[-1] if mine else None
