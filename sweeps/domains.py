"""The search-space domains a budget's YAML names — `{choice: [...]}`, `{loguniform: [lo, hi]}`, `{uniform: [lo, hi]}`,
`{randint: [lo, hi]}`, `{cycle: [...]}` — as small frozen values that sample themselves, without Ray.

Each draws exactly what Ray Tune's domain of the same name draws from the same `numpy.random.RandomState` (its
`ray.tune.search.sample` samplers: one `uniform`, `randint` or `choice` call per value), so a sweep's sampled
configurations, and with them its trial ids, are what they were when budgets held Ray's own domains
(tests/test_registry_budgets_report.py compares the two). Loading and checking a budget therefore imports no Ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Choice:
    """`{choice: [a, b]}`: one of the values, uniformly."""

    values: tuple

    @property
    def categories(self) -> list:  # what the row schema types the column from
        return list(self.values)

    def sample(self, random_state: np.random.RandomState) -> Any:
        return self.values[random_state.choice(np.arange(len(self.values)), size=1)[0]]


@dataclass(frozen=True)
class Uniform:
    """`{uniform: [lo, hi]}`: a float in [lo, hi)."""

    lower: float
    upper: float

    def sample(self, random_state: np.random.RandomState) -> float:
        return float(random_state.uniform(self.lower, self.upper, size=1)[0])


@dataclass(frozen=True)
class LogUniform:
    """`{loguniform: [lo, hi]}`: a float whose logarithm is uniform in [log lo, log hi) (0 < lo < hi)."""

    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not 0 < self.lower < self.upper:
            raise ValueError("loguniform needs 0 < low < high")

    def sample(self, random_state: np.random.RandomState) -> float:
        return float(np.exp(random_state.uniform(np.log(self.lower), np.log(self.upper), size=1))[0])


@dataclass(frozen=True)
class RandInt:
    """`{randint: [lo, hi]}`: an integer in [lo, hi) (hi excluded, as in Ray and numpy)."""

    lower: int
    upper: int
    integer = True  # the row schema types the column int64

    def __post_init__(self) -> None:
        if not (isinstance(self.lower, int) and isinstance(self.upper, int) and self.lower < self.upper):
            raise ValueError("randint needs whole numbers low < high")

    def sample(self, random_state: np.random.RandomState) -> int:
        return int(random_state.randint(self.lower, self.upper, size=1)[0])


@dataclass(frozen=True)
class Cycle:
    """`{cycle: [a, b, c]}`: sample i takes values[i % len] — every value once per len(values) samples (a grid over
    one categorical, e.g. each fine-tuning mode), the other parameters drawn as usual (sweeps.budgets.sample_configs
    hands it the sample's index; it draws nothing)."""

    values: tuple

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("cycle needs at least one value")

    @property
    def categories(self) -> list:
        return list(self.values)

    def at(self, index: int) -> Any:
        return self.values[index % len(self.values)]


DOMAINS = {"choice": lambda v: Choice(tuple(v)), "loguniform": lambda v: LogUniform(*v),
           "uniform": lambda v: Uniform(*v), "randint": lambda v: RandInt(*v), "cycle": lambda v: Cycle(tuple(v))}
