# Two commands on a fresh machine: `make quickstart` (the pipeline on the built-in tiny default)
# and `make test`. Both create .venv and install into it first.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch goes in first, then the rest (so no package pulls a different build of it).
TORCH ?= torch==2.13.0

.PHONY: install quickstart test test-default-kernels tiny-model clean

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

# Regenerates the tiny model shipped in the package, after a change to quickstart/task.py or tiny_model.py.
tiny-model: install
	ATEN_CPU_CAPABILITY=default $(VENV)/bin/rlhf-recipes build-default --ship

clean:
	rm -rf $(VENV) outputs
