# Two commands on a fresh machine: `make quickstart` (the pipeline on the built-in tiny default)
# and `make test`. Both create .venv and install into it first.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch goes in first, then the rest (so no package pulls a different build of it).
TORCH ?= torch==2.13.0

.PHONY: install quickstart test clean

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

clean:
	rm -rf $(VENV) outputs
