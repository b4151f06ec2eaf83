# Every target creates and fills .venv when it is missing or older than pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# glibc's allocator settings are applied inside each entry point (src/mimkit/app/allocator.py)

.PHONY: install train test test-all bench figures gpu-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,chem]'
	touch $(STAMP)

install: $(STAMP)

## train the default model (MIM on the 2-D GMM); pass overrides with ARGS="objective=vae ..."
train: $(STAMP)
	$(PY) src/train.py $(ARGS)

## the fast test suite (what CI runs), in JOBS processes (pytest-xdist; JOBS=0: in this one)
JOBS ?= 2
test: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=src $(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow" -q -n $(JOBS) --durations=15 $(ARGS)

## every test, the slow ones included (in JOBS processes too)
test-all: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) $(ARGS)

## the benchmarks behind the documented speed figures, each against a baseline measured in the same
## run (results in outputs/bench/; one-off studies in benchmarks/studies/ are not run);
## REF=/tmp/vp adds the VampPrior reference's training step and IS-NLL (see benchmarks/image_training.py)
bench: $(STAMP)
	$(PY) -m benchmarks.training_speed --out outputs/bench/training_speed.json
	$(PY) -m benchmarks.metrics_pass --out outputs/bench/metrics_pass.json
	$(PY) -m benchmarks.image_training --out outputs/bench/image_training.json $(if $(REF),--ref $(REF))
	$(PY) -m benchmarks.image_nll --out outputs/bench/image_nll.json $(if $(REF),--ref $(REF))
	$(PY) -m benchmarks.grid_time --out outputs/bench/grid_time.json
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.sampler --out outputs/bench/sampler.json
	$(PY) -m benchmarks.debug_run --out outputs/bench/debug_run.json

## plots and tables of a sweep (Figs. 3-5 layout, results.md, results.json, into the sweep dir):
## make figures RUN=outputs/train/multiruns/<time> [ARGS="--out DIR --x model.hidden --group objective"]
figures: $(STAMP)
	@test -n "$(RUN)" || { echo 'usage: make figures RUN=outputs/<task>/multiruns/<time> [ARGS="--out DIR --x KEY"]' >&2; exit 2; }
	$(PY) src/report.py $(RUN) $(ARGS)

## the device check on one GPU (docs/gpu.md, "GPU check"; sets up its own venv, ~10 min):
## results and summary.md in outputs/gpu_check/<time> (or $$OUT/gpu_check); ARGS=--dry-run: a CPU smoke
gpu-check:
	scripts/gpu_check.sh $(ARGS)

clean:
	rm -rf outputs/*/ .pytest_cache
