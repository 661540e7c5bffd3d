# The verbs everyone uses; CI calls them too.
.PHONY: help sync up down status run test test-unit lint fmt schema-check
.DEFAULT_GOAL := help

# uv from PATH, else the one `make sync` installs with pip.
UV ?= $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "python3 -m uv")
PODIUM = $(UV) run podium
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k stack -x"`.
PYTEST_ARGS ?=
# `make test` runs its tests in this many processes (pytest-xdist), each taking whole
# modules: the integration and e2e tests mostly wait for the broker and the services they
# start, so two processes share two cores well (the suite took 1408 s in one, 784 s in
# two). PYTEST_WORKERS=0 runs every test in pytest's own process.
PYTEST_WORKERS ?= 2
export GOAL

# Each area may add its verbs in mk/<area>.mk.
-include mk/*.mk

help:
	@echo 'make run GOAL="..."   bring the stack up if needed, run one goal, print the answer'
	@echo 'make up / down        start / stop Kafka, PostgreSQL, the LLM and every service'
	@echo 'make status           what runs, where'
	@echo 'make test             the whole test suite against a real Kafka and PostgreSQL'
	@echo 'make test-unit        the unit tests only (no servers)'
	@echo 'make lint / fmt       ruff and mypy --strict / reformat'
	@echo 'make schema-check     every schema reads every earlier version kept (BACKWARD_TRANSITIVE)'

sync:
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv with pip"; \
		python3 -m pip install --quiet --user uv 2>/dev/null || \
		python3 -m pip install --quiet --user --break-system-packages uv; }
	$(UV) sync --frozen --inexact  # keeps the bench group, if `make bench` installed it

up: sync
	$(PODIUM) up

down:
	$(PODIUM) down

status:
	$(PODIUM) status

run: sync
	@test -n "$$GOAL" || { echo 'usage: make run GOAL="what to achieve"' >&2; exit 2; }
	$(PODIUM) run -- "$$GOAL"

# The tests use the Kafka and PostgreSQL that PODIUM_TEST_BOOTSTRAP and PODIUM_TEST_PG_DSN
# name; when either is unset, the local stack's (`podium up --infra` starts it if needed,
# and it keeps running afterwards: `make down` stops it). No test collected is a failure.
test: sync deploy-tools
	@if [ -z "$$PODIUM_TEST_BOOTSTRAP" ] || [ -z "$$PODIUM_TEST_PG_DSN" ]; then \
		$(PODIUM) up --infra || exit 1; fi
	@exports="$$($(PODIUM) test-env)" || exit 1; eval "$$exports"; \
	echo "tests use Kafka at $$PODIUM_TEST_BOOTSTRAP and PostgreSQL at $$PODIUM_TEST_PG_DSN"; \
	status=0; $(UV) run pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) \
		|| status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests: a failure" >&2; fi; \
	exit $$status

test-unit: sync
	$(UV) run pytest tests/unit

lint: sync
	$(UV) run ruff format --check .
	$(UV) run ruff check .
	$(UV) run mypy

# The compatibility gate: the newest schema of every event under schemas/ reads every
# earlier version kept in schemas/<version>/published/ (Apache Avro's own checker, offline).
schema-check: sync
	$(PODIUM) schemas check

fmt:
	$(UV) run ruff format .
	$(UV) run ruff check --fix .
