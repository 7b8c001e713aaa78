# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap their own tools.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= auto
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Installed packages get their bytecode written once, at install time: every process (test workers, the
# CLI, the server) otherwise compiles each module it imports again, some seconds per process, whenever
# the environment forbids writing bytecode caches.
export UV_COMPILE_BYTECODE := 1

.PHONY: help install run test lint typecheck unit integration bench dist clean

help:
	@echo "make run        start supportdesk on http://127.0.0.1:8000 (SQLite + demo data)"
	@echo "make test       lint, type-check and run the whole test suite with coverage"
	@echo "make bench      run the API benchmarks (see docs/performance.md)"
	@echo "make dist       build a wheel and its locked requirements for a server (docs/deployment.md)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Names the interpreter the environment was built with, so `make run PYTHON=python3.12` rebuilds it.
PYTHON_STAMP := $(TOOLS)/python-$(subst /,_,$(PYTHON))

$(PYTHON_STAMP): | $(UV)
	rm -f $(TOOLS)/python-*
	touch $@

# `make run` installs only what the application needs; `make install`, `make test` and the other
# development targets add the dev dependency group (pyproject.toml). Both sync the one .venv exactly,
# removing whatever the other mode added, so each mode has its own stamp and syncing one deletes the
# other's: switching between `make run` and `make test` syncs again instead of trusting a stale stamp.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

$(RUN_STAMP): $(UV) pyproject.toml uv.lock $(PYTHON_STAMP)
	rm -f $(DEV_STAMP) $(VENV)/.installed
	$(UV) sync --frozen --no-dev --python $(PYTHON)
	@touch $@

$(DEV_STAMP): $(UV) pyproject.toml uv.lock $(PYTHON_STAMP)
	rm -f $(RUN_STAMP) $(VENV)/.installed
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/supportdesk db upgrade
	$(BIN)/supportdesk demo --if-missing
	$(BIN)/supportdesk serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

# The type check runs beside the tests: it keeps one core busy for some twenty seconds, the tests keep
# both busy for minutes, and one after the other they took that much longer. Its report is printed when
# the tests end, and either failing fails the target.
test: lint
	@echo "$(BIN)/mypy (beside the tests; its report follows theirs)"
	@$(BIN)/mypy > $(VENV)/typecheck.log 2>&1 & types=$$!; \
	echo "$(BIN)/pytest -n $(PYTEST_WORKERS) --cov --cov-report=term --cov-fail-under=95.5"; \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --cov --cov-report=term --cov-fail-under=95.5; tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/typecheck.log; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests/integration

bench: install
	$(BIN)/python bench/api.py

# A wheel and the locked, hash-checked versions of what it needs, so that a server installs the
# release with plain pip and needs neither uv nor a checkout (docs/deployment.md).
dist: $(UV)
	rm -rf dist
	$(UV) build --wheel --out-dir dist
	$(UV) export --frozen --no-dev --no-emit-project --quiet --output-file dist/requirements.txt

clean:
	rm -rf dist $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.* htmlcov
