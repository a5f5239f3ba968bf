"""Stopping a sweep by signal: Ctrl-C (SIGINT) and SIGTERM — what `timeout`, `kill`, Slurm and Kubernetes send — end
it the same way; and a storage that refuses writes (full, read-only, over quota, a bucket refusing them) ends it
that way too, raising the refusal (core.store.WriteFailed) once the trials stopped.

While trials run, the first signal asks Tune to stop them (its public `Stopper.stop_all`): finished trials' rows and
every checkpoint stay, Ray shuts down, and the command exits 128 + the signal's number with one line saying how to
go on. A signal before or after the trials, or a second one, stops at once. Ray's core worker installs its own
SIGTERM handler (a C++ stack dump and exit 1) when it starts, so the driver installs this one again after
`ray.init`.
"""
from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable, Iterator

from core import store

SIGNALS = (signal.SIGINT, signal.SIGTERM)
RESUME_HINT = "interrupted; finished trials are kept: rerun with --resume"
REFUSED_EXIT = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, the same command works later


def refused_line(failure: Exception) -> str:
    """The one line a sweep stopped by its storage ends with: where, why, and how to go on."""
    return (f"the storage refused a write: {failure}; the sweep stopped and its finished trials are kept: free "
            f"space (or make the storage writable) and rerun with --resume")


class Interrupted(KeyboardInterrupt):
    """The sweep was stopped by `signum`; its exit code is the shell's 128 + signum (130 Ctrl-C, 143 SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SignalStop:
    """A context that turns SIGINT and SIGTERM into a graceful stop of the Tune run, or into `Interrupted`."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.refused: Exception | None = None  # the first write the storage refused (core.store.WriteFailed)
        self.tune_running = False
        self._previous: dict[int, Any] = {}

    def refuse(self, failure: Exception) -> None:
        """The storage refused a write (the driver's, or a trial's): stop the running trials as a signal would."""
        if self.refused is None:
            self.refused = failure

    def __enter__(self) -> "SignalStop":
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread (a sweep run from a test's worker thread keeps Ray's)
        for signum in SIGNALS:
            self._previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None and self.tune_running:
            self.received = signum
            print(f"{signal.Signals(signum).name}: stopping the running trials (send it again to stop at once)",
                  file=sys.stderr, flush=True)
            return
        raise Interrupted(self.received or signum)

    def raise_if_stopped(self) -> None:
        if self.refused is not None:
            raise self.refused
        if self.received is not None:
            raise Interrupted(self.received)

    def stopper(self) -> Any:
        """A Tune Stopper that ends the whole run once a signal arrived (checked at every step of Tune's loop)."""
        from ray.tune import Stopper

        owner = self

        class OnSignal(Stopper):
            def __call__(self, trial_id: str, result: dict) -> bool:
                return False

            def stop_all(self) -> bool:
                return owner.received is not None or owner.refused is not None

        return OnSignal()


def refusal_in(text: str) -> store.WriteFailed | None:
    """The WriteFailed a trial raised, rebuilt from the text Ray recorded of it (its last mention)."""
    found = REFUSAL.findall(text)
    if not found:
        return None
    location, _, reason = found[-1].strip().rpartition(": ")
    return store.WriteFailed(location, reason)


REFUSAL = re.compile(r"WriteFailed: (.+)")


class QuietRefusals(logging.Filter):
    """Turns Ray's log records of a write the storage refused — a trial that failed on one, Tune's own experiment
    state that could not be saved — into the sweep's stop, and drops them (a traceback of ~100 lines each): the
    sweep ends with one line saying so (sweeps.interrupt.refused_line)."""

    def __init__(self, on_refused: Callable[[Exception], None], where: str | None = None):
        super().__init__()
        self.on_refused, self.where = on_refused, where  # named when the error names no file

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        refusal = store.write_refusal(exc, self.where) or refusal_in(str(exc))
        if refusal is None:
            return True
        self.on_refused(refusal)
        return False


@contextlib.contextmanager
def quiet_refusals(on_refused: Callable[[Exception], None], where: str | None = None) -> Iterator[None]:
    """QuietRefusals where Ray's records pass while the sweep runs: the loggers that report them, and the handlers
    of Ray's own logger (which its children's records reach); removed after, so the next sweep in this process
    hears its own refusals."""
    quiet = QuietRefusals(on_refused, where)
    targets = [logging.getLogger(name) for name in ("ray.tune.execution.tune_controller",
                                                    "ray.tune.execution.experiment_state")]
    targets += logging.getLogger("ray").handlers
    for target in targets:
        target.addFilter(quiet)
    try:
        yield
    finally:
        for target in targets:
            target.removeFilter(quiet)
