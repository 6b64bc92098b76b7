# The two commands of the README: `make run` and `make test`. Everything else is their set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup kafka lint bench chaos fuzz clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP) kafka

kafka:
	bash scripts/fetch-kafka.sh >/dev/null

run: setup
	$(VENV)/bin/pipai run

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pipai schemas jobs engine orchestrator workers projections api cli

# Seeded chaos suite (docs/architecture.md): SEED=7 ITERATIONS=20 make chaos
chaos: setup
	$(VENV)/bin/pipai chaos --seed $${SEED:-1} --iterations $${ITERATIONS:-100}

# Schemathesis at depth: 1,000 examples per operation and phase, and as many stateful
# scenarios along the OpenAPI links (CI runs the same test with 40): EXAMPLES=200 make fuzz
fuzz: setup
	PIPAI_FUZZ_EXAMPLES=$${EXAMPLES:-1000} $(PY) -m pytest -q \
		tests/integration/test_api_schemathesis.py

bench: setup
	$(PY) -m pip install -q -c constraints.txt -e ".[test,bench]"
	$(PY) -m benchmarks.engine
	$(PY) -m benchmarks.event_log
	$(PY) -m benchmarks.latency
	$(PY) -m benchmarks.api
	$(PY) -m benchmarks.sweep

clean:
	rm -rf $(VENV) .cache .pipai
