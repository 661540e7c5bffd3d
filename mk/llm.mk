# The local model: `make eval-plans` measures how well it plans; `make test` needs it built.
llm_default_goal := $(.DEFAULT_GOAL)
EVAL_ARGS ?=

.PHONY: eval-plans local-llm

# Valid plans of the local model (PODIUM_LOCAL_MODEL) over 20 fixed goals; or of the
# endpoint PODIUM_LLM__BASE_URL names.
eval-plans: sync
	@$(UV) run python -m evals.plans $(EVAL_ARGS)

# Builds the local model server and fetches its model into ~/.cache/podium, once.
local-llm: sync
	@$(PODIUM) fetch --llm

# tests/e2e/test_local_model.py runs a goal through it.
test: local-llm

.DEFAULT_GOAL := $(llm_default_goal)
