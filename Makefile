# labgate — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test workers: the suite waits on processes, brokers and databases as much as it computes, so
# three workers keep two cores busy (`make test TEST_WORKERS=2` to compare).
TEST_WORKERS ?= 3
# Beside the product, never imported by it: the simulated partners and the benchmarks.
PACKAGES := -e packages/labgate-sim -e packages/labgate-bench
SOURCES := src packages/labgate-sim/src packages/labgate-bench/src
# Bytecode caches are written (into the ignored __pycache__ folders) even where the shell says not
# to: without them every labgate process compiles its ~700 modules again, 4.8 s instead of 1.7 s
# for `labgate packs --help`, paid by each process the tests start and each command a user runs.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test check bench screenshots validation-pack conformance services migrate seed clean

# uv resolves and installs the same packages as pip in seconds instead of minutes (the scientific
# and PDF stack is large); pip remains the fallback where uv cannot be had.
$(STAMP): pyproject.toml packages/labgate-sim/pyproject.toml packages/labgate-bench/pyproject.toml
	@test -x $(BIN)/python || { echo "make: creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing labgate and its dependencies into $(VENV) (a minute or two the first time)"
	@$(BIN)/python -m pip install --quiet uv 2>/dev/null || true
	@if test -x $(BIN)/uv; then \
		$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' $(PACKAGES); \
	else \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -e '.[dev]' $(PACKAGES); \
	fi
	@touch $(STAMP)

## run: install, migrate, seed the demo plant (once), serve on 127.0.0.1:8000 (SQLite)
run: $(STAMP)
	@echo "make: checking the PDF libraries (Pango, HarfBuzz); installed if missing"
	@bash scripts/ensure-services.sh pdf
	@mkdir -p var
	@echo "make: migrating the database (LABGATE_DATABASE_URL; by default var/labgate.db)"
	@LABGATE_DEMO=1 $(BIN)/labgate db upgrade
	@echo "make: seeding the demo plant (once; about a minute, its stages shown)"
	@LABGATE_DEMO=1 $(BIN)/labgate demo seed
	@echo "make: serving on http://$${LABGATE_HOST:-127.0.0.1}:$${LABGATE_PORT:-8000} (API docs at /docs; Ctrl-C stops)"
	@LABGATE_DEMO=1 $(BIN)/labgate serve

## test: the whole suite, on SQLite and PostgreSQL (started or installed if needed). TEST_WORKERS
## share the unit, e2e, integration and contract tests (each test makes its own database, vhost
## and folders; the contract tests fuzz the OpenAPI as each role); the resilience tests restart
## the broker, so they run alone afterwards. The 40 slowest tests are printed: CI's budget is 20 min.
## Then the validation pack is built from that very run (var/validation-pack/): a requirement
## without a test, or tested short of the depth its risk asks for, fails `make test` too.
test: $(STAMP)
	@bash scripts/ensure-services.sh
	@mkdir -p var
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=40 --junitxml=var/test-junit.xml tests/unit tests/e2e tests/integration tests/contract
	$(BIN)/pytest -q tests/resilience
	$(BIN)/labgate validation pack --out var/validation-pack --junit var/test-junit.xml

## check: formatting, lint, strict typing, and the rings as import contracts
check: $(STAMP)
	$(BIN)/ruff format --check $(SOURCES) tests
	$(BIN)/ruff check $(SOURCES) tests
	$(BIN)/mypy --strict $(SOURCES)
	$(BIN)/lint-imports

## bench: throughput against the raw limit measured in the same run (BENCH="rest console": some
## groups only, of cli results ingest rest latency console)
bench: $(STAMP)
	@bash scripts/ensure-services.sh
	$(BIN)/python -m labgate_bench $(BENCH)

## screenshots: a PNG of each main console page on the demo plant, into docs/console/
screenshots: $(STAMP)
	@bash scripts/ensure-services.sh chromium pdf
	$(BIN)/python scripts/screenshots.py

## validation-pack: run the tests that carry URS ids (PostgreSQL, RabbitMQ … started if needed),
## then build the GAMP 5 validation pack from that run into var/validation-pack/
validation-pack: $(STAMP)
	@bash scripts/ensure-services.sh
	@mkdir -p var
	-$(BIN)/pytest -q -m requirement --junitxml=var/validation-junit.xml tests/unit tests/e2e tests/integration
	$(BIN)/labgate validation pack --out var/validation-pack --junit var/validation-junit.xml

## conformance: the conformance kit against the simulated MES and LIMS (started locally), every
## case of every message type; signed reports into var/conformance/{mes,lims}/; fails on a case
conformance: $(STAMP)
	@BIN=$(BIN) bash scripts/conformance.sh

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
