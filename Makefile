# onetap: `make run` opens the console; `make test` runs lint and every test but the long soaks
# (marked slow), `make test-slow` runs those; CI (.ci/run) runs both.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Re-install when pyproject.toml changes; the stamp records which extras are in. pip's output goes
# to $(INSTALL_LOG) (shown only when it fails): a first run says what it does and how long it takes.
INSTALL_LOG := $(VENV)/install.log
PIP_QUIET = > $(INSTALL_LOG) 2>&1 || { echo "pip install failed; the end of $(INSTALL_LOG):" >&2; tail -n 40 $(INSTALL_LOG) >&2; exit 1; }
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
BENCH_STAMP := $(VENV)/.stamp-bench

.PHONY: run test test-slow quick lint bench snapshots-update engine clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "onetap needs $(PYTHON) (Python >= 3.11) on PATH; set PYTHON=..." >&2; exit 1; }
	@echo "creating the virtual environment $(VENV) with $(PYTHON)…"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET)

$(RUN_STAMP): pyproject.toml | $(PY)
	@echo "installing onetap into $(VENV) (first run: about 2-3 minutes; log: $(INSTALL_LOG))…"
	@$(PY) -m pip install --quiet -e . $(PIP_QUIET)
	@touch $@
	@echo "installed."

$(DEV_STAMP): pyproject.toml | $(PY)
	@echo "installing onetap and its test tools into $(VENV) (first run: about 3 minutes; log: $(INSTALL_LOG))…"
	@$(PY) -m pip install --quiet -e ".[dev]" $(PIP_QUIET)
	@touch $@ $(RUN_STAMP)

# The peers the benchmarks race (vectorbt, backtesting.py): heavy, so only `make bench` installs them.
$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@touch $@ $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	@echo "starting onetap: the desk in a few seconds, the day's cards a few seconds later (q quits)…"
	@$(VENV)/bin/onetap $(ARGS)

engine: $(RUN_STAMP)
	$(VENV)/bin/onetap --engine-only $(ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check engine console tests
	$(VENV)/bin/ruff check engine console tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q -m "not slow" -n 2 --durations=15

# The long soaks (the 50-trial crash test): each has a quick sibling in `make test` that proves the
# same properties on fewer trials, so a change can be checked in minutes; CI still runs these.
test-slow: $(DEV_STAMP)
	$(VENV)/bin/pytest -q -m slow

quick: $(DEV_STAMP)
	$(VENV)/bin/ruff check engine console tests
	$(VENV)/bin/pytest -q -m "not slow" -x

bench: $(BENCH_STAMP)
	$(PY) -m tests.bench.run

snapshots-update: $(DEV_STAMP)
	$(VENV)/bin/pytest -q tests/console/test_snapshots.py --snapshot-update

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
