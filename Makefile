# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-peers bench clean

# mpi4jax compiles against Open MPI (`mpicc`); where an `nvcc` is on the PATH it also builds
# its CUDA part and needs CUDA_PATH.
CUDA_PATH ?= $(if $(wildcard /usr/local/cuda),/usr/local/cuda,)
MPIRUN := mpirun --oversubscribe --mca mpi_yield_when_idle 1 $(if $(filter 0,$(shell id -u)),--allow-run-as-root,)

$(STAMP): pyproject.toml
	@command -v mpicc >/dev/null || { echo "Open MPI is missing: apt-get install openmpi-bin libopenmpi-dev"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CUDA_PATH=$(CUDA_PATH) $(PY) -m pip install -q -e ".[dev,mpi]"
	touch $(STAMP)

## Main job on the embedded default (offline): train the default config on randman, run the
## trained network (its NIR file) in the simulator on 4 shards, then simulate a Brunel network
## on 2 MPI ranks (raster plots in runs/randman_rsnn/simulator.png, runs/brunel_mpi2.png).
demo: $(STAMP)
	$(PY) training/train.py --config configs/randman_rsnn.yaml --no-resume
	$(PY) simulation/trained_network.py --config configs/randman_rsnn.yaml --samples 16 --devices 4
	$(MPIRUN) -np 2 $(PY) simulation/brunel.py --order 250 --simtime 500 --exchange point_to_point --out runs/brunel_mpi2.json

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
