# Two commands on a fresh machine: `make quickstart` (the pipeline on the built-in tiny default)
# and `make test`. Both create .venv and install into it first.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch goes in first, then the rest (so no package pulls a different build of it).
TORCH ?= torch==2.13.0
# The tests run in TEST_JOBS processes of one thread each (pytest-xdist; a test file stays in one process, so its
# fixtures are built once): the tiny model's steps are too small to keep a second thread busy, a second test is not.
TEST_JOBS ?= 2
PYTEST = OMP_NUM_THREADS=1 $(1) -m pytest -n $(TEST_JOBS) --dist loadfile

.PHONY: install quickstart test lint test-default-kernels test-trl1.12 test-latest tiny-model clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

quickstart: install
	$(VENV)/bin/rlhf-recipes quickstart

test: install
	$(call PYTEST,$(PY))

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The tests whose figures depend on training, again under PyTorch's portable CPU kernels (another processor's
# rounding on this one): they must hold on every processor. CI runs this after `make test`.
test-default-kernels: install
	ATEN_CPU_CAPABILITY=default $(call PYTEST,$(PY)) -m quality

# TRL 1.12, the last release with TRL's own PPOTrainer, in a second venv (constraints-trl1.12.txt), PyTorch first
# again: the reference test (our PPO against TRL 1.12's, bit for bit) and the PPO stage's tests on that line.
TRL112_VENV ?= .venv-trl1.12
TRL112_PY := $(TRL112_VENV)/bin/python
TRL112_TESTS := tests/test_ppo_reference.py tests/test_ppo.py tests/test_trl_versions.py tests/test_config.py

$(TRL112_VENV)/.installed: pyproject.toml constraints-trl1.12.txt
	python3 -m venv $(TRL112_VENV)
	$(TRL112_PY) -m pip install --quiet --upgrade pip
	$(TRL112_PY) -m pip install --quiet "$(TORCH)"
	$(TRL112_PY) -m pip install --quiet -c constraints-trl1.12.txt -e ".[dev]"
	touch $@

test-trl1.12: $(TRL112_VENV)/.installed
	$(call PYTEST,$(TRL112_PY)) $(TRL112_TESTS)

# The package as `pip install` gives it: a wheel of this checkout with the newest dependencies its ranges allow (no
# constraints), in a third venv; the notebook runs on it (from an empty folder, as on Colab).
LATEST_VENV ?= .venv-latest
LATEST_PY := $(LATEST_VENV)/bin/python

$(LATEST_VENV)/.installed: pyproject.toml
	python3 -m venv $(LATEST_VENV)
	$(LATEST_PY) -m pip install --quiet --upgrade pip
	$(LATEST_PY) -m pip install --quiet "$(TORCH)"
	$(LATEST_PY) -m pip install --quiet ".[dev]"
	touch $@

test-latest: $(LATEST_VENV)/.installed
	$(call PYTEST,$(LATEST_PY)) tests/test_notebook.py tests/test_front_door.py

# Regenerates the tiny model shipped in the package, after a change to quickstart/task.py or tiny_model.py.
tiny-model: install
	ATEN_CPU_CAPABILITY=default $(VENV)/bin/rlhf-recipes build-default --ship

clean:
	rm -rf $(VENV) $(TRL112_VENV) $(LATEST_VENV) outputs
