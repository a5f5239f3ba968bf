"""One driver per sweep: a lock beside the sweep's folder, `<storage>/.<sweep-id>.lock`, a file or an object (a hidden
name, which no sweep id can be: a sweep named `q.lock` never meets sweep `q`'s lock).

Two terminals, or a job resubmitted while the first still runs, would otherwise both plan, launch and write the same
trials. The lock names its holder (host, pid, start time) and carries a heartbeat count that the holder bumps every
`heartbeat_s` seconds. Another driver refuses while the holder lives: on the same host, while its pid runs; on
another host, while its heartbeat moves, watched for three beats. No clocks are compared, so machines whose clocks
disagree still agree on what is stale. A lock left by a dead driver is taken over with one line saying whose it was,
so `--resume` after a crash just works.

What a test on one machine cannot show: two drivers on two hosts taking over the same stale lock in the same
instant. Object stores offer no compare-and-swap that every S3-compatible store honours, so the writer reads its
own token back after a pause; that narrows the race to the pause but does not close it.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from core import store

HEARTBEAT_ENV = "GROUPSWEEP_LOCK_HEARTBEAT_S"
STALE_BEATS = 3  # heartbeats a holder may miss before its lock is taken over


class LockHeld(RuntimeError):
    """Another driver runs this sweep; the message names it and what to do."""


@dataclass(frozen=True)
class Holder:
    sweep_id: str
    host: str
    pid: int
    started_utc: str
    token: str  # this acquisition's own id: a restarted driver with a reused pid is still another holder
    beat: int = 0
    heartbeat_s: float = 10.0  # how often `beat` moves while the holder lives

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started_utc}"

    @classmethod
    def parse(cls, text: str) -> "Holder":
        """A lock's text as its holder (ValueError or TypeError when it is not a sweep lock; a field that a later
        version added is left out)."""
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})

    def runs_here(self) -> bool:
        return self.host == socket.gethostname()


def lock_location(storage, sweep_id: str) -> str:
    """`<storage>/.<sweep-id>.lock`: a hidden name, which no sweep id can be (sweeps.storage.SWEEP_ID), so a lock
    never collides with a sweep's folder (`q.lock` is a valid sweep id)."""
    return store.join(storage, f".{sweep_id}.lock")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class DriverLock:
    """`with DriverLock(storage, sweep_id):` holds the sweep's lock, heartbeating, until the block ends."""

    def __init__(self, storage, sweep_id: str, heartbeat_s: float | None = None):
        self.location = lock_location(storage, sweep_id)
        self.heartbeat_s = heartbeat_s or float(os.environ.get(HEARTBEAT_ENV, 10))
        self.me = Holder(sweep_id, socket.gethostname(), os.getpid(),
                         datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"), uuid.uuid4().hex,
                         heartbeat_s=self.heartbeat_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "DriverLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def read(self) -> Holder | None:
        """The lock's holder, or None when there is no lock. Locks are written whole, so anything else at the
        lock's path (a folder, another file) is not ours to overwrite: LockHeld names it."""
        if store.is_folder(self.location):
            raise self._in_the_way("a folder")
        text = store.read_text(self.location)
        if not text:
            return None
        try:
            return Holder.parse(text)
        except (ValueError, TypeError):
            raise self._in_the_way(f"a file that is not a sweep lock ({len(text.encode())} bytes)") from None

    def _in_the_way(self, what: str) -> "LockHeld":
        return LockHeld(f"{self.location}: {what} where sweep {self.me.sweep_id}'s lock goes; move or remove it "
                        f"(the harness writes only its own locks there)")

    def _write(self, beat: int) -> None:
        store.write_text(json.dumps(asdict(self.me) | {"beat": beat}), self.location)

    def acquire(self) -> None:
        held = self.read()
        if held is not None and self._alive(held):
            raise self._refusal(held)
        if held is not None:
            print(f"note: {self.location}: taking over the lock of a driver that no longer runs ({held.describe()})",
                  flush=True)
        self._write(0)
        time.sleep(min(1.0, self.heartbeat_s / 4))  # another driver taking over at the same moment: one wins
        now = self.read()
        if now is None or now.token != self.me.token:
            raise self._refusal(now or held)
        self._thread = threading.Thread(target=self._beat, name="sweep-lock-heartbeat", daemon=True)
        self._thread.start()

    def _alive(self, held: Holder) -> bool:
        """Whether the holder still runs: its pid on this host; elsewhere, whether its heartbeat moves."""
        if held.runs_here():
            return pid_alive(held.pid)
        watch = STALE_BEATS * self.heartbeat_s
        print(f"{self.location}: held by {held.describe()}; watching its heartbeat for {watch:.0f} s", flush=True)
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            time.sleep(self.heartbeat_s / 2)
            now = self.read()
            if now is None:
                return False
            if now.token != held.token or now.beat != held.beat:
                return True
        return False

    def _beat(self) -> None:
        beat = 0
        while not self._stop.wait(self.heartbeat_s):
            beat += 1
            try:
                now = self.read()
                if now is not None and now.token != self.me.token:
                    print(f"warning: {self.location}: another driver took this sweep's lock ({now.describe()})",
                          flush=True)
                    return
                self._write(beat)
            except (OSError, LockHeld):  # a store hiccup or a file in the way: the next beat tries again;
                continue  # three missed beats look stale

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            held = self.read()
            if held is not None and held.token == self.me.token:
                store.remove_file(self.location)
        except (OSError, LockHeld):
            pass  # a lock left behind is taken over: same host at once, elsewhere after three heartbeats

    def _refusal(self, held: Holder | None) -> LockHeld:
        whose = held.describe() if held else "a driver that started at the same moment"
        return LockHeld(f"sweep {self.me.sweep_id} is being run by another driver ({whose}; lock {self.location}); "
                        f"wait for it or stop it, or use another --sweep-id (if it no longer runs, remove the lock)")
