"""A side channel: calls to an optional service (a tracking server) made off the driver's loop, so that a service
that fails, stalls or vanishes costs the sweep one warning line and never a trial, a minute or a signal.

The driver hands each call to `Sender.send`, which never waits: the call joins a bounded queue that one background
thread empties in order. A call that fails is tried again every few seconds; once the service has failed for
`outage_s` in a row (or the queue overflows, or the sweep ends with calls still waiting), the sender gives up for
the rest of the run with one warning line saying what was not sent and how to send it later. At the sweep's end
`close` waits a bounded grace period for the queue to drain, never more; the thread is a daemon, so a call still
blocked in the network when the driver leaves is simply abandoned.

The service's own client must bound each call in time (MLflow's: a short request timeout and few retries,
sweeps.tracking.mlflow_log), since a thread blocked in a call cannot be interrupted; `outage_s` bounds the rest.
"""
from __future__ import annotations

import queue
import re
import sys
import threading
import time
from typing import Callable

QUEUE_SIZE = 20_000  # calls waiting; a 40-group sweep makes a few per trial-epoch
OUTAGE_S = 60.0  # a service failing this long in a row is given up for the rest of the run
RETRY_S = 3.0  # between two tries of a call that failed
GRACE_S = 10.0  # at the sweep's end, for the calls still waiting
STOP_GRACE_S = 2.0  # the same after a signal: a stop must win


# what a network failure comes down to, inside a client's wrapped message ("Max retries exceeded ... (Caused by
# NewConnectionError(...: [Errno 111] Connection refused'))")
CAUSE = re.compile(r"\[Errno -?\d+\] [^'\")\]]+|Read timed out|Connection aborted|Connection reset by peer|"
                   r"RemoteDisconnected[^'\")]*")


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as `Type: its first line` (a network failure: its cause), whole words up to `limit`
    characters."""
    text = (str(exc).strip().splitlines() or [""])[0]
    causes = CAUSE.findall(str(exc))
    if causes:
        return f"{type(exc).__name__}: {causes[-1].strip().rstrip('.')}"
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Sender:
    """One background thread sending `name`'s calls in order; see the module docstring.

    `later` is the sentence that says how to send what was not sent (e.g. the command that replays the rows)."""

    def __init__(self, name: str, later: str, outage_s: float = OUTAGE_S, retry_s: float = RETRY_S,
                 queue_size: int = QUEUE_SIZE):
        self.name, self.later = name, later
        self.outage_s, self.retry_s = outage_s, retry_s
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._given_up = threading.Event()
        self._warned = threading.Lock()  # held by whoever prints the one warning
        self.sent = self.unsent = 0
        self.problem = ""  # the last failure, as one line
        self._busy = False  # a call is being tried now
        self._thread = threading.Thread(target=self._run, name=f"side-channel {name}", daemon=True)
        self._thread.start()

    @property
    def given_up(self) -> bool:
        return self._given_up.is_set()

    def send(self, call: Callable[[], object]) -> None:
        """Queue `call`; never waits (a full queue gives up)."""
        if self.given_up:
            self.unsent += 1
            return
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            self.unsent += 1
            self.give_up(f"{self._queue.maxsize} calls waiting (the server is slower than the sweep)")

    def run_now(self, call: Callable[[], object], timeout_s: float) -> tuple[bool, BaseException | None]:
        """Run `call` on the sender's thread, ahead of nothing else queued, and wait for it at most `timeout_s`:
        (True, None) done, (True, exc) failed with `exc`, (False, None) no answer in time (it goes on in the
        background and its outcome is ignored)."""
        done = threading.Event()
        outcome: list[BaseException | None] = [None]

        def probe() -> None:
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - handed back to the waiting caller
                outcome[0] = exc
            finally:
                done.set()

        self._queue.put(_Once(probe))
        if not done.wait(timeout_s):
            return False, None
        return True, outcome[0]

    def give_up(self, why: str) -> None:
        """Stop sending for the rest of the run, and say so once."""
        self._given_up.set()
        self._drain()
        if self._busy:  # the call being tried now is not retried after this
            self.unsent += 1
            self._busy = False
        if self._warned.acquire(blocking=False):
            counts = f" with {self.unsent} update(s) not sent ({self.sent} sent)" if self.unsent or self.sent else ""
            print(f"warning: {self.name}: {why}; tracking stopped for this sweep{counts}; its rows hold every "
                  f"result: {self.later}", file=sys.stderr, flush=True)

    def close(self, grace_s: float = GRACE_S) -> None:
        """Wait up to `grace_s` for the waiting calls to be sent — not at all while the service is failing — then
        give up on what is left."""
        deadline = time.monotonic() + grace_s
        while not self.given_up and self._queue.unfinished_tasks and not self.problem \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.given_up and self._queue.unfinished_tasks:
            why = f"failing at the sweep's end ({self.problem})" if self.problem else \
                f"no answer within the {grace_s:g} s the sweep's end waits"
            self.give_up(why)
        self._given_up.set()  # nothing is sent after the end, and nothing more is said

    def _drain(self) -> None:
        """Count every waiting call as not sent."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self.unsent += 1
            self._queue.task_done()

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            try:
                if isinstance(call, _Once):
                    call()
                elif self.given_up:
                    self.unsent += 1
                else:
                    self._busy = True
                    self._send(call)
            finally:
                self._busy = False
                self._queue.task_done()

    def _send(self, call: Callable[[], object]) -> None:
        """Try `call` until it works, the outage lasts `outage_s`, or the sender gave up."""
        failing_since = None
        while not self.given_up:
            try:
                call()
                self.sent += 1
                self.problem = ""
                return
            except Exception as exc:  # noqa: BLE001 - any failure of an optional service is the same to the sweep
                self.problem = first_line(exc)
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= self.outage_s:
                    self.give_up(f"failing for {now - failing_since:.0f} s ({self.problem})")
                    return
            self._given_up.wait(self.retry_s)


class _Once:
    """A call run once whatever the sender's state (the start's probe)."""

    def __init__(self, call: Callable[[], None]):
        self.call = call

    def __call__(self) -> None:
        self.call()
