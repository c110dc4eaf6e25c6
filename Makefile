# Local development and CI entry points. See docker-compose.yml for a containerised deployment.
#
#   make up     install, start Redis if needed, run the API and one worker (Ctrl-C stops both)
#   make test   install, start Redis if needed, run the whole test suite
#   make bench  run the benchmarks in bench/ (core service, image throughput, few-shot accuracy)
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
.PHONY: venv install redis up test bench clean

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
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) -m pytest

bench: $(STAMP) redis
	$(PIP) install -q -e '.[bench]'
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_core.py --json bench/results/core.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/bench_images.py --json bench/results/images.json
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(PY) bench/fewshot.py --json bench/results/fewshot.json

clean:
	rm -rf data
