# The verbs everyone uses; CI calls them too.
.PHONY: sync lint fmt test test-unit

UV ?= uv

# Each area may add its verbs in mk/<area>.mk.
-include mk/*.mk

sync:
	$(UV) sync --frozen

lint: sync
	$(UV) run ruff format --check .
	$(UV) run ruff check .
	$(UV) run mypy

fmt:
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

test-unit: sync
	$(UV) run pytest tests/unit
