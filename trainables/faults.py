"""A trial's starts and the chaos tests' injected fault: `retries` in a row counts the earlier starts (a file per
trial under `<sweep>/attempts/`), and GROUPSWEEP_INJECT_FAULT="<trial id substring>@<epoch>" fails a trial's first
attempt after that epoch (tests/test_sweep.py, test_store.py, test_cluster.py: the retry resumes from its
checkpoint)."""
from __future__ import annotations

import os

from core import store
from core.plan import TrialSpec

FAULT_ENV = "GROUPSWEEP_INJECT_FAULT"


def count_attempt(spec: TrialSpec) -> int:
    """Record this start of the trial; returns the number of earlier starts."""
    location = store.join(spec.results_dir, "attempts", spec.trial_id)
    earlier = int(store.read_text(location) or 0)
    store.write_text(str(earlier + 1), location)
    return earlier


def inject_fault(spec: TrialSpec, epoch: int, retries: int) -> None:
    """Fail the first attempt after a chosen epoch, when GROUPSWEEP_INJECT_FAULT asks for it (fault tests)."""
    target, _, at = os.environ.get(FAULT_ENV, "").partition("@")
    if target and target in spec.trial_id and at.isdigit() and int(at) == epoch and retries == 0:
        raise RuntimeError(f"injected fault after epoch {epoch} ({FAULT_ENV})")
