# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-peers bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

## Main job on the embedded default (offline): train the default config on randman.
demo: $(STAMP)
	$(PY) training/train.py --config configs/randman_rsnn.yaml --no-resume

## Lint + tests (what CI runs through .ci/run).
test: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

## Cross-checks against peers from PyPI (torch CPU wheel, snnTorch, SpikingJelly, Norse, NEST).
test-peers: $(STAMP)
	$(PY) -m pip install -q torch==2.13.0 nest-simulator==3.10.0
	$(PY) -m pip install -q --no-deps snntorch spikingjelly norse loguru nirtorch
	$(PY) -m pytest -q -m peers tests

bench: $(STAMP)
	$(PY) benchmarks/lif_layer.py
	$(PY) benchmarks/train_step.py

clean:
	rm -rf $(VENV)
