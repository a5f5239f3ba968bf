"""Argparse types every command shares: a number within bounds, finite (`nan`, `inf` and `1e999` are refused in
one line like any other bad value, before they reach a price, a timer or a port)."""
from __future__ import annotations

import argparse
import math
from typing import Callable


def number(kind: type, low: float, above: bool = False, high: float | None = None) -> Callable[[str], float]:
    """A finite `kind` (int or float) of at least `low` (above `low` when `above`) and at most `high`, else one
    line saying what was expected."""
    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            value = None
        bad = value is None or not math.isfinite(value) or value < low or (above and value == low) \
            or (high is not None and value > high)
        if bad:
            what = "a whole number" if kind is int else "a finite number"
            bounds = f"above {low:g}" if above else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"{text!r}: expected {what} {bounds}"
                                             + (f" and <= {high:g}" if high is not None else ""))
        return value
    return parse
