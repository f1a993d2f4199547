# Two commands: `make test` and `make train`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# pytest-xdist workers for `make test` (each file's tests, and all slurm tests, stay together:
# tests/conftest.py). PYTEST_WORKERS=0 runs the suite in this process, one test at a time.
PYTEST_WORKERS ?= 2

.PHONY: test train lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

train: $(STAMP)
	$(PY) -m dqn_atari.train $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check dqn_atari tests scripts

clean:
	rm -rf $(VENV) .pytest_cache
