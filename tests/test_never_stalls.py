"""The fast tier's half of "nothing optional stops a sweep": the side channel's sender on real threads (a service that
fails, one that hangs), the one-line refusals of numbers that are not finite and positive, a port TensorBoard
cannot bind, and whether a driver holds a sweep as its lock shows it. The sweeps against real servers in trouble
are tests/test_side_channels.py's."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from analysis.live import DriverWatch
from core import store
from sweeps.lock import lock_location
from sweeps.tracking.sidechannel import Sender
from tests.conftest import ROOT, run_main
from tests.test_bad_input import assert_one_line_error


def test_a_failing_service_is_tried_again_then_given_up_with_one_warning(capsys):
    calls = []

    def failing():
        calls.append(time.monotonic())
        raise ConnectionError("HTTPConnectionPool(host='x', port=1): Max retries exceeded (Caused by "
                              "NewConnectionError(': Failed to establish a new connection: [Errno 111] Connection "
                              "refused'))")

    sender = Sender("--mlflow http://x", "replay them later", outage_s=0.6, retry_s=0.1)
    t0 = time.monotonic()
    for _ in range(5):
        sender.send(failing)
    assert time.monotonic() - t0 < 0.05  # sending never waits
    deadline = time.monotonic() + 5
    while not sender.given_up and time.monotonic() < deadline:
        time.sleep(0.02)
    sender.send(failing)  # after giving up: counted, not tried
    sender.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: --mlflow http://x: failing for 1 s (ConnectionError: "
                                                "[Errno 111] Connection refused)"), err
    assert "5 update(s) not sent (0 sent)" in err[0] and err[0].endswith("replay them later")
    assert sender.unsent == 6
    assert 4 <= len(calls) <= 10 and calls[-1] - calls[0] >= 0.5  # the first call, tried again for the outage


def test_a_hung_service_costs_the_end_its_grace_and_no_more(capsys):
    release = threading.Event()
    sender = Sender("--mlflow http://y", "replay them later")
    sender.send(lambda: None)
    sender.send(release.wait)  # a call that never returns (until the test ends)
    sender.send(lambda: None)
    t0 = time.monotonic()
    sender.close(grace_s=0.5)
    assert 0.4 <= time.monotonic() - t0 < 1.5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no answer within the 0.5 s the sweep's end waits" in err
    assert "2 update(s) not sent (1 sent)" in err
    release.set()


def test_a_full_queue_gives_up_instead_of_waiting(capsys):
    release = threading.Event()
    sender = Sender("--mlflow http://z", "replay them later", queue_size=2)
    for _ in range(6):
        sender.send(release.wait)
    assert sender.given_up and "2 calls waiting" in capsys.readouterr().err
    release.set()


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "1e999", "abc"])
def test_watch_takes_only_a_positive_finite_number(tmp_path, value):
    from analysis.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "--watch", value])
    assert stop.value.code == 2


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_a_spot_price_must_be_finite_and_positive(value):
    done = run_main("--datasets", "animals", "--models", "resnet18", "--methods", "features_svm", "--dry-run",
                    f"--spot-price-gpu-hour={value}", script="matrix.py")
    assert done.returncode == 2 and "expected a finite number above 0" in done.stderr, done.stderr
    assert "$nan" not in done.stdout


def test_a_spot_price_the_user_gives_is_labelled_theirs():
    args = ("--datasets", "animals", "--models", "resnet18", "--methods", "features_svm", "--dry-run",
            "--gpus-per-trial", "0.25")
    theirs = run_main(*args, "--spot-price-gpu-hour", "0.3", script="matrix.py")
    assumed = run_main(*args, script="matrix.py")
    assert "on spot at $0.3/GPU-h (yours: --spot-price-gpu-hour)" in theirs.stdout, theirs.stdout
    assert "assumption" not in theirs.stdout
    assert "on spot at $0.4/GPU-h (an assumption of 40 % of on-demand" in assumed.stdout, assumed.stdout


def test_tensorboard_on_a_taken_port_exits_in_one_line_before_printing_its_address(tmp_path):
    (tmp_path / "tune").mkdir()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "analysis", "tensorboard", str(tmp_path), "--port", str(port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert_one_line_error(done, f"--port {port}: Address already in use")
    assert "TensorBoard: http" not in done.stdout


def plant(storage, **holder) -> None:
    base = dict(sweep_id="s", host=socket.gethostname(), pid=os.getpid(), started_utc="2026-12-06 00:00:00 UTC",
                token="t", beat=0)
    store.write_text(json.dumps(base | holder), lock_location(storage, "s"))


def test_whether_a_driver_holds_a_sweep_comes_from_its_lock(tmp_path):
    """This host: its pid runs or not; another host: its heartbeat moves or not (no clocks compared); no lock: no
    driver, since the rows' last write."""
    import pandas as pd

    sweep = tmp_path / "s"
    manifest = {"sweep_id": "s", "command": "python sweeps/all_groups.py --resume"}
    rows = pd.DataFrame({"finished_utc": ["2026-12-06T10:00:00+00:00", "2026-12-06T11:30:05+00:00"]})
    watch = DriverWatch()
    plant(tmp_path)  # this test's own pid
    assert watch.state(sweep, manifest, rows).alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    plant(tmp_path, pid=int(dead.stdout))
    state = watch.state(sweep, manifest, rows)
    assert not state.alive and state.since_utc >= "2026-12-06T11:30:05"  # the lock's last write, or later
    assert state.line().endswith("; continue with `python sweeps/all_groups.py --resume`")
    plant(tmp_path, host="elsewhere", heartbeat_s=0.1)
    assert watch.state(sweep, manifest, rows).alive  # first seen: its heartbeat has not had time to stand still
    time.sleep(0.4)
    assert not watch.state(sweep, manifest, rows).alive  # three beats without a move
    plant(tmp_path, host="elsewhere", heartbeat_s=0.1, beat=1)
    assert watch.state(sweep, manifest, rows).alive
    store.remove_file(lock_location(tmp_path, "s"))
    state = watch.state(sweep, manifest, rows)
    assert not state.alive and state.holder == "" and state.since_utc == "2026-12-06T11:30:05+00:00"
