# make chaos: 500 goals through a private stack (its own broker, PostgreSQL, scripted LLM at
# 50-500 ms, free ports, a temporary state folder, two replicas of each worker type and of
# the aggregator) while every service instance is SIGKILLed and restarted 3 times, the
# broker is restarted and PostgreSQL is down for 30 s. It ends with one line,
# `chaos: goals=N completed=C ... duplicate_llm_calls=X`, and fails if a goal was lost or
# doubled, or if no task was redelivered. `make chaos-quick` is the short run CI makes (tests/e2e/test_chaos_quick.py).
# `make chaos-soak N=20` runs the quick one N times in a row, one line per run, and stops at
# the first failure (its state kept); the last line says how many passed and the total time.
#   CHAOS_ARGS="--goals 200 --llm-faults --keep"   see `uv run python -m chaos --help`

chaos_default_goal := $(.DEFAULT_GOAL)
CHAOS_ARGS ?=
N ?= 20

.PHONY: chaos chaos-quick chaos-soak

chaos: sync
	@$(UV) run python -m chaos $(CHAOS_ARGS)

chaos-quick: sync
	@$(UV) run python -m chaos --quick $(CHAOS_ARGS)

chaos-soak: sync
	@$(UV) run python -m chaos.soak --runs $(N) -- $(CHAOS_ARGS)

.DEFAULT_GOAL := $(chaos_default_goal)
