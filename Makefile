# One-command set-up: every target bootstraps uv (from PyPI, into .tools/) and the workspace venv.
# uv never downloads a Python here: it uses the machine's python3 (>= 3.11).
PYTHON ?= python3
UV_BIN := $(shell command -v uv 2>/dev/null)
ifeq ($(UV_BIN),)
UV_BIN := .tools/bin/uv
endif
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export NO_MKDOCS_2_WARNING := 1
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test lint typecheck unit demo docs docs-serve bench bench-quick clean mutants

venv: $(VENV)/.synced

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5"

$(VENV)/.synced: $(UV_BIN) pyproject.toml uv.lock packages/*/pyproject.toml conformance/pyproject.toml
	$(UV_BIN) sync --all-packages --frozen --python $(PYTHON)
	touch $@

## test: the whole suite — lint, format check, types, then every test (what CI runs)
test: lint typecheck unit docs

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy packages/p2pshare-core/src packages/p2pshare-node/src packages/p2pshare-cli/src packages/p2pshare-sim/src conformance/src bench docs/hooks docs/tests docs/figures docs/examples

unit: venv
	$(BIN)/pytest --cov=p2pshare_core --cov-branch --cov-report=term:skip-covered --cov-fail-under=95 -p no:cacheprovider

## mutants: the conformance suite against every broken reference node (catch rate per section)
mutants: venv
	$(BIN)/python conformance/tests/mutants/run.py $(MUTANTS_ARGS)

## demo: a seeder and four leechers on loopback, live
demo: venv
	$(BIN)/p2pshare demo

docs: venv
	$(BIN)/mkdocs build --strict

docs-serve: venv
	$(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) .tools site .pytest_cache .mypy_cache .ruff_cache

# Bench-only dependencies live outside the uv-managed venv (a `uv sync` would remove them mid-run).
BENCH_DEPS := .tools/bench-deps
BENCH_ENV := PYTHONPATH=$(BENCH_DEPS)
.PHONY: bench-deps bench-profile

bench-deps: $(BENCH_DEPS)/.installed
	@# uv does not byte-compile (pip does): without .pyc every p2pshare process start compiles
	@# click/rich/construct from source, which users of a pip install never pay.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib packages > /dev/null || true

# Installed once per change of the requirements or the venv (a reinstall took 8 of the
# 60 seconds of bench-quick).
$(BENCH_DEPS)/.installed: bench/requirements.txt $(VENV)/.synced
	$(UV_BIN) pip install --quiet --python $(BIN)/python --target $(BENCH_DEPS) -r bench/requirements.txt
	touch $@

## bench: p2pshare vs libtorrent vs bare loop vs the original JSON design (not a test; ~25 min)
bench: bench-deps
	$(BENCH_ENV) $(BIN)/python -m bench $(BENCH_ARGS)

## bench-quick: the same at 64 MiB, one run each (under a minute)
bench-quick: bench-deps
	$(BENCH_ENV) $(BIN)/python -m bench --quick $(BENCH_ARGS)

## bench-profile: py-spy profiles of a p2pshare seeder and leecher (1 GiB, 64 KiB pieces)
bench-profile: bench-deps
	$(BENCH_ENV) $(BIN)/python -m bench.profile $(BENCH_ARGS)
