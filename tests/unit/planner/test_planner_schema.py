"""The planner and the validator ask for their replies with the schema of the very models
that read them, so a constrained decoder can only write what those models accept."""

from __future__ import annotations

from podium_common.plans import KNOWN_TYPES, DraftPlan, plan_schema, review
from podium_common.structured import schema_of
from podium_common.topics import TaskType
from podium_planner.handler import handle
from podium_planner.settings import PlannerSettings
from podium_worker_validator.handler import ROLE, _Reply
from tests.unit.planner.test_planner_handler import VALID, FakeLLM, Progress, goal_event
from tests.unit.workers.fakes import FakeLLM as WorkerLLM
from tests.unit.workers.fakes import make_task


def test_the_plan_schema_is_the_draft_models_bounded_by_max_tasks() -> None:
    schema = plan_schema(4)
    assert schema["properties"]["tasks"]["maxItems"] == 4
    assert schema["properties"]["tasks"]["minItems"] == 1
    task = schema["$defs"]["DraftTask"]
    assert task["properties"]["type"]["enum"] == list(KNOWN_TYPES)
    assert set(task["required"]) == {
        "id",
        "type",
        "description",
        "requirements",
        "depends_on",
        "requires_approval",
    }
    assert {key: schema[key] for key in ("title", "type")} == {
        key: schema_of(DraftPlan)[key] for key in ("title", "type")
    }


async def test_every_ask_of_the_planner_carries_the_plan_schema() -> None:
    llm = FakeLLM("{}", VALID)
    settings = PlannerSettings(model="m", max_asks=3, max_tasks=5, deadline_s=600)
    await handle(goal_event(max_tasks=3), llm, settings, Progress())
    assert [r.schema for r in llm.requests] == [plan_schema(3)] * 2
    assert {r.schema_name for r in llm.requests} == {"plan"}


def test_a_plan_with_raw_newlines_in_its_strings_is_read() -> None:
    reply = VALID.replace('"find A"', '"find A\nand its sources"')
    assert review(reply, max_tasks=8).tasks[0].description == "find A\nand its sources"


async def test_the_validator_asks_with_its_verdict_schema() -> None:
    from podium_worker_validator.handler import handle as validate

    llm = WorkerLLM('{"passed": true, "feedback": "ok"}')
    result = await validate(make_task(TaskType.VALIDATOR), llm, worker_id="w", model="m")
    assert result.verdict is not None
    assert result.verdict.passed
    assert llm.requests[0].schema == ROLE.schema == schema_of(_Reply)
