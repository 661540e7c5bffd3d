"""The planner's settings: `PODIUM_` environment variables, nested with `__`."""

from __future__ import annotations

from pydantic import Field

from podium_common.events import DEFAULT_DEADLINE_S, Stage
from podium_common.ledger import LedgerSettings
from podium_common.prices import PriceTable
from podium_common.settings import BaseServiceSettings, LLMSettings, service_config


class PlannerSettings(BaseServiceSettings):
    model_config = service_config()

    llm: LLMSettings = LLMSettings()
    # Token budgets and the cluster's LLM rate (PODIUM_LEDGER__*, podium_common.ledger).
    ledger: LedgerSettings = LedgerSettings()
    # Price per million tokens per model (PODIUM_PRICES): the cost its calls count.
    prices: PriceTable = Field(default_factory=dict)
    # The planner's model, unless a goal names one in `options.models["planner"]`.
    model: str = "gpt-4o-mini"
    max_in_flight: int = Field(default=256, ge=1)
    # How many times the LLM is asked for a plan before the goal's plan is rejected.
    max_asks: int = Field(default=3, ge=1, le=10)
    # Used when a goal's options leave them out.
    max_tasks: int = Field(default=8, ge=1, le=100)
    # The same default the aggregator fails goals by (`PODIUM_DEADLINE_S` sets both).
    deadline_s: int = Field(default=DEFAULT_DEADLINE_S, ge=1)
    # Task types whose tasks wait for a person, `before` they run or `after` (their output),
    # e.g. PODIUM_APPROVALS='{"specialist": "after"}'; a goal's options add to it.
    approvals: dict[str, Stage] = Field(default_factory=dict)
    # Whether a plan's own `requires_approval` makes a task wait for a person
    # (PODIUM_PLAN_APPROVALS, which the aggregator reads for sub-plans too). Off, only
    # `approvals` and a goal's options do: for a model that marks tasks unasked.
    plan_approvals: bool = True
