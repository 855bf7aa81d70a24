# jobq — `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
UV_VERSION := 0.13.9
PACKAGES := core api worker operator client

.PHONY: help venv lock locks images run dashboard dashboard-deps dashboard-lock test test-fast mutate lint format docs bench clean

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

# The images' locks: each service with core, for the image's platform (linux x86_64,
# CPython 3.11), hashed, held to dev.lock's versions so the tested versions are the
# shipped ones. The two local packages are left out; the Dockerfiles install them.
# IMAGE_PYTHON is the Dockerfiles' default base image version (a unit test holds them
# together). The locks are resolved for LOCKS_PYTHON instead, the oldest interpreter the
# images are built on: Debian bookworm's python3, the base `make images` builds without
# Docker Hub (tools/images). A lock for the older Python holds on the newer one too;
# not the other way round (below 3.11.3 redis-py needs async-timeout).
IMAGES := api worker operator
IMAGE_PYTHON := 3.11.14
LOCKS_PYTHON := 3.11.2
locks: | $(BIN)/uv ## re-resolve requirements/{api,worker,operator}.lock for the images
	grep -v '^-e ' $(LOCK) > $(VENV)/dev-constraints.txt
	for svc in $(IMAGES); do \
		$(BIN)/uv pip compile --quiet requirements/$$svc.in -o requirements/$$svc.lock \
			--python-version $(LOCKS_PYTHON) --python-platform x86_64-manylinux_2_28 --generate-hashes \
			-c $(VENV)/dev-constraints.txt --no-emit-package jobq-core --no-emit-package jobq-$$svc \
			--no-emit-index-url --no-emit-find-links --custom-compile-command "make locks" || exit 1; \
	done

# Without a Docker engine: buildah on bases of Debian's packages, plus the chart's bundled
# PostgreSQL and Redis, each also exported as an OCI archive (tools/images; cached under
# ~/.cache/jobq/images, so an unchanged second run builds nothing).
images: venv ## build jobq-{api,worker,operator}:dev with Docker, or without one with buildah (+ jobq-postgresql, jobq-redis)
	$(BIN)/python -m tools.images

# ARQ=myapp.worker.WorkerSettings runs an ARQ app in the workers (README, Coming from ARQ).
ARQ ?=
run: venv dashboard ## run PostgreSQL, Redis, the API (with the dashboard) and two workers locally; Ctrl-C stops
	$(BIN)/jobq run $(if $(ARQ),--arq $(ARQ))

dashboard-deps: ## install the dashboard's npm packages (npm ci once per lock, cached under ~/.cache/jobq)
	bash tools/npm/deps.sh dashboard

dashboard-lock: ## re-resolve dashboard/package-lock.json (no registry addresses, no funding links)
	bash tools/npm/lock.sh dashboard

dashboard: dashboard-deps ## build the dashboard into dashboard/dist when its sources changed
	bash tools/dashboard/build.sh

.PHONY: postman postman-deps postman-lock
postman: venv ## regenerate postman/ (the collection and the `make run` environment) from the OpenAPI document
	$(BIN)/python -m tools.postman

postman-deps: ## install newman for tests/e2e/test_postman.py (npm ci once per lock, cached under ~/.cache/jobq)
	bash tools/npm/deps.sh tools/newman

postman-lock: ## re-resolve tools/newman/package-lock.json (no registry addresses, no funding links)
	bash tools/npm/lock.sh tools/newman

lint: venv dashboard-deps chart-linters ## ruff, mypy (strict on core and the client), import-linter, hadolint, the chart's linters, the dashboard's types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core/jobq_core
	$(BIN)/mypy api/jobq_api worker/jobq_worker operator/jobq_operator
	$(BIN)/mypy client/jobq_client
	$(BIN)/lint-imports
	$(BIN)/hadolint $(foreach s,$(IMAGES),$(s)/Dockerfile) tools/images/postgresql/Containerfile tools/images/redis/Containerfile
	$(BIN)/python -m tools.docs --check
	$(BIN)/python -m tools.dashboards --check
	$(BIN)/python -m tools.chart_docs --check
	$(BIN)/python -m tools.chartlint
	$(BIN)/python -m tools.api_types --check
	$(BIN)/python -m tools.client_models --check
	$(BIN)/python -m tools.postman --check
	cd dashboard && npm run --silent typecheck

docs: venv dashboard-deps ## regenerate the README's tables, the dashboard's API types, the client's models and the Postman collection from their declarations
	$(BIN)/python -m tools.docs
	$(BIN)/python -m tools.api_types
	$(BIN)/python -m tools.client_models
	$(BIN)/python -m tools.postman
	$(BIN)/python -m tools.chart_docs
	$(BIN)/python -m tools.dashboards

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest runs on two processes (one per core), each taking a whole file at a time, so a
# module's servers start once. The mutation check skips its baseline for the tests this
# run passed (the junit XML); it runs the tests that caught a mutation unmutated
# afterwards instead.
TEST_JUNIT := .jobq/pytest-junit.xml
test: lint prometheus browser dashboard postman-deps ## everything CI runs: lint, unit, integration, e2e and browser tests, the mutation check
	cd dashboard && npm run --silent test
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=30 --junitxml=$(TEST_JUNIT)
	$(BIN)/python -m tools.mutate --passed $(TEST_JUNIT)

mutate: venv ## break the code on purpose (tools/mutations.toml) in a scratch copy; each breakage must fail a test
	$(BIN)/python -m tools.mutate

test-fast: venv ## unit tests only (no servers)
	$(BIN)/pytest -q tests/unit

# Every scenario for jobq, raw ARQ, Celery and SAQ in one run (20,000 jobs, 3 repetitions:
# tens of minutes); BENCH_ARGS passes flags, e.g. BENCH_ARGS="--jobs 5000 --repetitions 1".
# Each comparison system runs in its own venv, built once from bench/requirements/*.lock.
BENCH_ARGS ?=
BENCH_SCALE_ARGS ?=
.PHONY: bench-smoke
bench: venv ## run every benchmark scenario for every system; writes bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: venv ## the benchmark with a few hundred jobs, results in .jobq/bench-smoke (proves it works)
	$(BIN)/python -m bench --smoke --out .jobq/bench-smoke

.PHONY: bench-scale
bench-scale: venv ## lists, searches and counts at a million jobs (BENCH_SCALE_ARGS="--jobs 10000000" for ten)
	$(BIN)/python -m bench.at_scale $(BENCH_SCALE_ARGS)

.PHONY: bench-index-cost
bench-index-cost: venv ## make bench's scenarios 1 and 4 with the million-jobs indexes and without, alternating (jobq only)
	$(BIN)/python -m bench.index_cost

.PHONY: bench-dashboard
bench-dashboard: venv dashboard browser ## measure the dashboard's budgets (bundle size, first rows, live latency, idle load, filter change; BENCH_DASHBOARD_ARGS="--jobs 1000000" at a million)
	$(BIN)/python -m bench.dashboard $(BENCH_DASHBOARD_ARGS)

.PHONY: prometheus
prometheus: ## install prometheus + promtool (Debian's package) when missing; the observability tests run them
	bash tools/prometheus/ensure.sh

.PHONY: chart-linters
chart-linters: venv ## build, or find in the cache, the chart's linters: kube-score and pint from Go modules, checkov in a venv of its own
	UV=$(BIN)/uv bash tools/chartlint/build.sh >/dev/null

.PHONY: browser
browser: ## install chromium (Debian's package) when missing; the dashboard tests drive it with Playwright
	bash tools/browser/ensure.sh

.PHONY: kube-binaries cluster
kube-binaries: ## build, or find in the cache, the control plane's binaries, helm, and the node's (kubelet, kube-proxy, CoreDNS, ...)
	bash tools/kube/build.sh all

# Needs root: the node makes a bridge, an nftables table and mounts, all undone on Ctrl-C.
cluster: ## start a local Kubernetes cluster with one node (containerd, CNI, DNS, volumes) and print its KUBECONFIG
	$(PYTHON) -m tools.kube.node up

.PHONY: manifests
manifests: venv ## render charts/jobq (values: k8s/values.yaml) into the plain manifests of k8s/
	$(BIN)/python -m tools.kube.manifests

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) .jobq
