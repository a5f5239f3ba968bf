"""How long a sweep has left, from its own pace: shared by the driver's progress line (sweeps.tracking.progress) and the
live report (analysis.live). The pace is the sweep's rate of finished trials since this driver run started, which
already counts the trials running side by side; it is guessed only once ETA_AFTER trials have finished."""
from __future__ import annotations

ETA_AFTER = 3  # finished trials before the remaining time is guessed


def clock(seconds: float) -> str:
    """h:mm:ss, or m:ss under an hour."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def remaining_s(elapsed: float, done: int, left: int) -> float | None:
    """Seconds until the `left` trials finish at the pace of `done` trials in `elapsed` seconds; None until
    ETA_AFTER trials have finished, 0 when none is left."""
    if left <= 0:
        return 0.0
    if done < ETA_AFTER:
        return None
    return elapsed / done * left
