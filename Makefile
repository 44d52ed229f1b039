# The two commands a user needs: `make demo` and `make test`. Each creates or refreshes
# the local virtualenv from the requirements files by itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint benchmark chaos chaos-short clean
SEED ?= 1
# Test processes for `make test`: most of the suite waits on the emulator, gcloud and the
# functions rather than on the CPU, so one more worker than cores pays off. Each worker
# runs whole modules (their stacks are shared by a module) with an emulator of its own.
TEST_WORKERS ?= 3

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "snapkeeper needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m snapkeeper_local demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

# Everything that needs no emulator, no Java and no gcloud: the library, the fakes and
# both functions in process. Under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not emulator"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A simulated month of ticks through the local pipeline under faults drawn from SEED,
# with the invariants checked after every tick (long: see the README).
chaos: $(STAMP)
	$(BIN)/python -m snapkeeper_local.chaos --seed $(SEED)

# The five-tick soak of tests/e2e/test_chaos.py alone (part of `make test`; about two minutes).
chaos-short: $(STAMP)
	$(BIN)/python -m pytest -m soak tests/e2e/test_chaos.py

benchmark: $(STAMP)
	$(BIN)/python benchmarks/fake_compute_rps.py
	$(BIN)/python benchmarks/pipeline_scale.py
	$(BIN)/python benchmarks/orphan_costs.py
	$(BIN)/python benchmarks/org_status_requests.py
	$(BIN)/python benchmarks/quota_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
