# Local development and CI entry points. See docker-compose.yml for a containerised deployment.
#
#   make up     install, start Redis if needed, run the API and one worker (Ctrl-C stops both)
#   make test   install, start Redis if needed, run the whole test suite (installs Chromium
#               for the console tests when missing and run as root)
#   make bench  run the performance benchmarks in bench/ and print their tables (9-17 min on 2 cores)
#   make bench-fewshot  few-shot accuracy on BBC News and Fashion-MNIST (~11 min)
#   make bench-gpu      the embedders on CUDA at batch sizes 1-256 (< 5 min; needs a GPU)
#   make clean  remove ./data (local Redis, Qdrant and model store)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch first and pinned: an unpinned resolve of the project would pull a multi-GB CUDA build.
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
# The worker's allocator settings (see scripts/run_local.sh); the test and bench
# processes host a worker too.
MALLOC_TUNABLES := $(shell cat scripts/malloc-tunables)

# Prerequisites must run in order: `.env` before `redis` (the Redis URL may come from `.env`).
.NOTPARALLEL:
.PHONY: venv install redis up test bench bench-fewshot bench-gpu clean

venv install: $(STAMP)

# Re-run only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==$(TORCH_VERSION)
	$(PIP) install -e '.[test]'
	touch $@

redis: $(STAMP)
	$(PY) scripts/ensure_redis.py

# Never regenerated once it exists: it holds the admin key.
.env: | $(STAMP)
	@key=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(24))'); \
	umask 077; sed "s/^HEADSTART_ADMIN_KEY=change-me$$/HEADSTART_ADMIN_KEY=$$key/" .env.example > $@.tmp; \
	mv $@.tmp $@; echo "created .env with a new admin key: $$key"

up: $(STAMP) .env redis
	scripts/run_local.sh

test: $(STAMP) redis
	bash scripts/ensure_chromium.sh  # headless Chromium for tests/console (apt-get when root)
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) -m pytest

# The BBC News embeddings bench_core computes (~90 s) and bench_heads reuses.
BBC_CACHE := bench/cache/bbc_core.npz
# Keeps the head-training grid to a few minutes: a cell is stopped after the timeout
# (larger cells of its mode are then skipped), and cells left after the budget are skipped.
HEAD_GRID_LIMITS := --head-timeout 120 --head-budget 420
bench: $(STAMP) redis
	$(PIP) install -q -e '.[bench]'
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_core.py --embeddings-cache $(BBC_CACHE) \
	    --json bench/results/core.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_images.py --json bench/results/images.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_backends.py --json bench/results/backends.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_pipeline.py --json bench/results/pipeline.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_cpu_ceiling.py --json bench/results/cpu_ceiling.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_heads.py --embeddings-cache $(BBC_CACHE) \
	    $(HEAD_GRID_LIMITS) --json bench/results/heads.json

bench-fewshot: $(STAMP)
	$(PIP) install -q -e '.[bench]'
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/fewshot.py --json bench/results/fewshot.json

bench-gpu: $(STAMP)
	bench/gpu_check.sh --json bench/results/gpu.json

clean:
	rm -rf data
