"""Named budgets (sweeps/budgets/<name>.yaml) and the search spaces they carry.

A budget is data: per-method `num_samples`, `max_epochs` and a search `space`, plus data caps and trial resources.
Space values use a tiny syntax mapped onto Ray Tune domains — `{choice: [...]}`, `{loguniform: [lo, hi]}`,
`{uniform: [lo, hi]}`, `{randint: [lo, hi]}`, `{cycle: [...]}` (sample i takes the i-th value, round robin) — and a
plain value is a fixed hyperparameter. A method's
`datasets: {<name>: {key: value}}` replaces space entries for that dataset's cells only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ray import tune

from trainables.registry import list_datasets

BUDGET_DIR = Path(__file__).parent / "budgets"
@dataclass(frozen=True)
class Cycle:
    """`{cycle: [a, b, c]}`: sample i takes values[i % len] — every value once per len(values) samples (a grid over
    one categorical, e.g. each fine-tuning mode), the other parameters drawn as usual."""

    values: tuple

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("cycle needs at least one value")

    @property
    def categories(self) -> list:  # what the row schema types the column from (like tune.choice)
        return list(self.values)


_DOMAINS = {"choice": lambda v: tune.choice(v), "loguniform": lambda v: tune.loguniform(*v),
            "uniform": lambda v: tune.uniform(*v), "randint": lambda v: tune.randint(*v),
            "cycle": lambda v: Cycle(tuple(v))}


class BudgetError(ValueError):
    """A budget file is missing or malformed."""


@dataclass(frozen=True)
class MethodBudget:
    num_samples: int
    max_epochs: int | None
    space: dict[str, Any]  # name -> tune Domain or a fixed value
    asha: dict[str, Any] = field(default_factory=dict)  # grace_period / reduction_factor for this method
    # per-dataset entries over `space`: a dataset's own facts (questions are ten words, newsgroups posts hundreds)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def space_for(self, dataset: str) -> dict[str, Any]:
        return self.space | self.datasets.get(dataset, {})


@dataclass(frozen=True)
class Budget:
    name: str
    description: str
    val_fraction: float
    checkpoint_every: int  # epochs between checkpoints; 0 = none (cheap smoke runs)
    images: dict[str, Any]
    text: dict[str, Any]
    resources: dict[str, Any]
    methods: dict[str, MethodBudget] = field(repr=False)

    def method(self, name: str) -> MethodBudget:
        if name not in self.methods:
            raise BudgetError(f"budget {self.name!r} has no entry for method {name!r} (methods.{name} in its YAML)")
        return self.methods[name]


def list_budgets() -> list[str]:
    return sorted(p.stem for p in BUDGET_DIR.glob("*.yaml"))


def _domain(where: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or next(iter(value)) not in _DOMAINS:
        raise BudgetError(f"{where}: expected a value or one of {{{', '.join(_DOMAINS)}: ...}}, got {value!r}")
    kind, args = next(iter(value.items()))
    try:
        return _DOMAINS[kind](args)
    except (TypeError, ValueError) as exc:
        raise BudgetError(f"{where}: bad {kind} arguments {args!r} ({exc})") from None


def _method_budget(file: str, method: str, spec: dict) -> MethodBudget:
    where = f"{file}: methods.{method}"
    space = {k: _domain(f"{where}.space.{k}", v) for k, v in spec["space"].items()}
    datasets = {d: {k: _domain(f"{where}.datasets.{d}.{k}", v) for k, v in over.items()}
                for d, over in (spec.get("datasets") or {}).items()}
    unknown = sorted(set(datasets) - set(list_datasets()))
    if unknown:
        raise BudgetError(f"{where}.datasets: unknown dataset(s) {', '.join(unknown)}; "
                          f"expected names from {', '.join(list_datasets())}")
    return MethodBudget(int(spec["num_samples"]), spec.get("max_epochs"), space, dict(spec.get("asha") or {}),
                        datasets)


def load_budget(name_or_path: str) -> Budget:
    """Load a budget by name (sweeps/budgets/<name>.yaml) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = BUDGET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BudgetError(f"--budget: no budget {name_or_path!r}; valid: {', '.join(list_budgets())} or a .yaml path")
    try:
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or not isinstance(raw.get("methods"), dict):
            found = type(raw).__name__ if not isinstance(raw, dict) else "no methods: mapping"
            raise BudgetError(f"{path}: a budget is a mapping with val_fraction, images, text, resources and "
                              f"methods (method -> num_samples, space); found {found}")
        methods = {m: _method_budget(path.name, m, spec) for m, spec in raw["methods"].items()}
        return Budget(path.stem, raw.get("description", ""), float(raw["val_fraction"]),
                      int(raw.get("checkpoint_every", 1)), raw["images"], raw["text"], raw["resources"], methods)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise BudgetError(f"{path}: malformed budget ({type(exc).__name__}: {exc})") from None


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def sample_configs(space: dict[str, Any], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Draw `num_samples` configurations reproducibly: the same seed gives the same configurations."""
    rng = np.random.RandomState(seed)
    configs = []
    for i in range(num_samples):
        config = {}
        for key in sorted(space):  # sorted: the draw order must not depend on YAML key order
            value = space[key]
            if isinstance(value, Cycle):
                config[key] = value.values[i % len(value.values)]
            else:
                config[key] = value.sample(random_state=rng) if hasattr(value, "sample") else value
        configs.append({k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()})
    return configs
