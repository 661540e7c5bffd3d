"""Records written with an earlier schema of an event stay readable: each earlier version is
kept, expanded, under `schemas/v1/published/`, and read into today's model."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import fastavro

from podium_common.avro import MAGIC, codec, fingerprint, load, published
from podium_common.events import PlanCreated, TaskAssigned, TaskResult


def test_every_published_schema_is_named_by_its_fingerprint_and_is_not_the_newest() -> None:
    from podium_common.avro import schemas_dir

    files = sorted((schemas_dir() / "v1" / "published").glob("*.avsc"))
    assert files
    for path, (raw, model) in zip(files, published("v1"), strict=True):
        assert path.name == f"podium.v1.{model.__name__}.{fingerprint(raw).hex()}.avsc"
        assert fingerprint(raw) != fingerprint(load("v1", model.__name__))


def old_record(model: type, record: dict[str, object]) -> bytes:
    raw = next(raw for raw, kept in published("v1") if kept is model)
    buffer = io.BytesIO()
    buffer.write(MAGIC + fingerprint(raw))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(raw), record)
    return buffer.getvalue()


BASE = {
    "event_id": str(uuid.uuid4()),
    "goal_id": str(uuid.uuid4()),
    "run": 1,
    "occurred_at": datetime(2026, 11, 1, tzinfo=UTC),
    "trace": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": ""},
}
TASK = {"task_id": "g.1.0123abcd.t1", "type": "researcher", "description": "find"}


def test_a_task_assigned_written_before_delegation_existed_reads_with_the_defaults() -> None:
    data = old_record(
        TaskAssigned,
        {
            **BASE,
            **TASK,
            "requirements": [],
            "depends_on": [],
            "goal": "g",
            "inputs": [],
            "attempt": 1,
            "deadline": datetime(2026, 11, 2, tzinfo=UTC),
            "feedback": None,
            "model": None,
            "final": False,
        },
    )
    event = codec().decode(data)
    assert isinstance(event, TaskAssigned)
    assert (event.parent_id, event.depth, event.max_subtasks) == (None, 0, 0)


def test_old_plans_and_results_read_too() -> None:
    plan = old_record(
        PlanCreated,
        {
            **BASE,
            "goal": "g",
            "options": {"max_tasks": None, "deadline_s": None, "token_budget": None, "models": {}},
            "deadline": datetime(2026, 11, 2, tzinfo=UTC),
            "tasks": [{**TASK, "requirements": [], "depends_on": []}],
            "model": "m",
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            "attempts": 1,
        },
    )
    decoded = codec().decode(plan)
    assert isinstance(decoded, PlanCreated)
    assert decoded.tasks[0].approval is None
    assert decoded.options.approvals == {}
    result = old_record(
        TaskResult,
        {
            **BASE,
            "task_id": TASK["task_id"],
            "type": "researcher",
            "status": "succeeded",
            "output": "x",
            "verdict": None,
            "error": None,
            "model": "m",
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            "latency_ms": 3,
            "worker_id": "w",
            "attempt": 1,
            "final": False,
        },
    )
    read = codec().decode(result)
    assert isinstance(read, TaskResult)
    assert read.subtasks == []
    assert not read.delegated
