# jobq — `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
UV_VERSION := 0.13.9
PACKAGES := core api worker operator

.PHONY: help venv lock run test test-fast lint format docs bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(LOCK) $(foreach p,$(PACKAGES),$(p)/pyproject.toml) | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(LOCK)
	touch $@

venv: $(VENV)/.installed ## create the virtual environment from the lock (uv caches downloads)

lock: | $(BIN)/uv ## re-resolve requirements/dev.lock from the pyproject files and dev.in
	$(BIN)/uv pip compile --quiet --python $(BIN)/python requirements/dev.in -o $(LOCK) \
		--no-emit-index-url --no-emit-find-links --custom-compile-command "make lock"

run: venv ## run PostgreSQL, Redis, the API and two workers locally; Ctrl-C stops
	$(BIN)/jobq run

lint: venv ## ruff, mypy (strict on core), import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core/jobq_core
	$(BIN)/mypy api/jobq_api worker/jobq_worker
	$(BIN)/lint-imports
	$(BIN)/python -m tools.docs --check

docs: venv ## regenerate the README's tables from their declarations
	$(BIN)/python -m tools.docs

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint ## everything CI runs: lint, then unit, integration and e2e tests
	$(BIN)/pytest -q

test-fast: venv ## unit tests only (no servers)
	$(BIN)/pytest -q tests/unit

bench: venv ## run the benchmarks and write bench/results/
	$(BIN)/python -m bench.throughput

.PHONY: kube-binaries cluster
kube-binaries: ## build, or find in the cache, etcd, kube-apiserver, kube-controller-manager, kubectl, helm
	bash tools/kube/build.sh

cluster: ## start a local Kubernetes control plane and print its KUBECONFIG
	$(PYTHON) -m tools.kube.cluster up

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) .jobq
