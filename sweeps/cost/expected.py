"""The epochs a job's trials are expected to train under its ASHA, next to the upper bound (every trial all its
epochs) the plan also states.

Ray Tune's ASHA (sweeps.scheduling: one per job) has rungs at grace_period x reduction_factor^k epochs below the
job's max epochs; a trial reaching a rung is stopped when its validation accuracy is below the (1 - 1/rf) quantile
of what the trials before it recorded there (the first to arrive always continues). `expected_epochs` plays that
rule out over the job's trials with seeded random qualities whose order holds at every rung, arriving one after
another — the same rule on the same counts, so the same job always gets the same figure. What it leaves out:
trials arriving together (a wave on a cluster compares against fewer earlier ones, so stops fewer), noise in a
trial's rank between rungs, and early stopping's patience (recorded by past runs only).
"""
from __future__ import annotations

import functools
import random

import numpy as np

from core.plan import Asha

DRAWS = 400  # simulated orders per job: the figure moves by well under 1 % between seeds at this count


def milestones(max_epochs: int, asha: Asha) -> list[int]:
    """The rungs' epochs, ascending, as Ray's ASHA builds them (its `_Bracket`, one bracket)."""
    grace = min(asha.grace_period, max_epochs)
    rf = float(asha.reduction_factor)
    rungs = int(np.log(max_epochs / grace) / np.log(rf) + 1)
    return [int(grace * rf ** k) for k in range(rungs)]


def play(qualities: list[float], max_epochs: int, asha: Asha) -> list[int]:
    """The epochs each trial trains when trials of these validation accuracies reach the rungs in this order."""
    rungs, keep = milestones(max_epochs, asha), (1 - 1 / float(asha.reduction_factor)) * 100
    recorded: dict[int, list[float]] = {m: [] for m in rungs}
    trained = []
    for quality in qualities:
        epochs = max_epochs
        for rung in rungs:
            if rung >= max_epochs:
                break  # the last epoch ends the trial anyway
            seen = recorded[rung]
            cutoff = np.percentile(seen, keep) if seen else None
            seen.append(quality)
            if cutoff is not None and quality < cutoff:
                epochs = rung
                break
        trained.append(epochs)
    return trained


@functools.lru_cache(maxsize=None)
def expected_epochs(trials: int, max_epochs: int, asha: Asha, draws: int = DRAWS) -> float:
    """Mean epochs per trial of a job of `trials` trials of at most `max_epochs` under `asha`."""
    if trials < 2 or max_epochs <= 1:
        return float(max_epochs)
    rng = random.Random(0)
    total = sum(sum(play([rng.random() for _ in range(trials)], max_epochs, asha)) for _ in range(draws))
    return total / (draws * trials)
