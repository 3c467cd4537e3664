# Two commands on a fresh machine: `make quickstart` (the pipeline on the built-in tiny default)
# and `make test`. Both create .venv and install into it first.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch goes in first, then the rest (so no package pulls a different build of it).
TORCH ?= torch==2.13.0

.PHONY: install quickstart test test-default-kernels test-newest-trl tiny-model clean

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
	$(PY) -m pytest

# The tests whose figures depend on training, again under PyTorch's portable CPU kernels (another processor's
# rounding on this one): they must hold on every processor. CI runs this after `make test`.
test-default-kernels: install
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -m quality

# The newest TRL line in a second venv (constraints-newest.txt: TRL 1.16, which has no PPOTrainer), PyTorch first
# again; then the tests that do not need PPO: the fast ones, and of the slow ones every stage but PPO on two
# processes, QLoRA SFT, a reward stage on a labelled sheet and every kill-and-resume test. CI runs it last.
NEWEST_VENV ?= .venv-newest
NEWEST_PY := $(NEWEST_VENV)/bin/python
NEWEST_SLOW := tests/test_multiprocess.py tests/test_qlora.py tests/test_collect_label.py tests/test_resume.py

$(NEWEST_VENV)/.installed: pyproject.toml constraints-newest.txt
	python3 -m venv $(NEWEST_VENV)
	$(NEWEST_PY) -m pip install --quiet --upgrade pip
	$(NEWEST_PY) -m pip install --quiet "$(TORCH)"
	$(NEWEST_PY) -m pip install --quiet -c constraints-newest.txt -e ".[dev]"
	touch $@

test-newest-trl: $(NEWEST_VENV)/.installed
	$(NEWEST_PY) -m pytest -m "not slow and not ppo"
	$(NEWEST_PY) -m pytest -m "slow and not ppo" $(NEWEST_SLOW)

# Regenerates the tiny model shipped in the package, after a change to quickstart/task.py or tiny_model.py.
tiny-model: install
	ATEN_CPU_CAPABILITY=default $(VENV)/bin/rlhf-recipes build-default --ship

clean:
	rm -rf $(VENV) $(NEWEST_VENV) outputs
