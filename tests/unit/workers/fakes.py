"""A scripted `LLM` and task factory for the worker tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from podium_common.events import DependencyOutput, TaskAssigned, TokenUsage, Trace, utcnow
from podium_common.llm import Completion, Request
from podium_common.topics import TaskType

Reply = str | Exception | Callable[[Request], str] | Completion
USAGE = TokenUsage(prompt_tokens=11, completion_tokens=7)


class FakeLLM:
    """Answers with its replies in order (the last one repeats): a text, a text made from
    the request, a completion as it is, or an error to raise. Records every request and the
    peak concurrency."""

    def __init__(self, *replies: Reply, delay_s: float = 0.0, model: str | None = None) -> None:
        self.replies = replies or ("an answer",)
        self.delay_s = delay_s
        self.model = model
        self.requests: list[Request] = []
        self.in_flight = 0
        self.peak = 0
        self._changed = asyncio.Event()

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self._changed.set()
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, Completion):
            return reply
        text = reply if isinstance(reply, str) else reply(request)
        return Completion(text=text, model=self.model or request.model, usage=USAGE, latency_ms=3)

    async def wait_in_flight(self, count: int) -> None:
        """Returns once `count` calls are under way at the same time."""
        while self.in_flight < count:
            self._changed.clear()
            await self._changed.wait()


def make_task(task_type: TaskType = TaskType.RESEARCHER, **overrides: Any) -> TaskAssigned:
    goal_id = overrides.pop("goal_id", uuid.uuid4())
    task_id = overrides.pop("task_id", f"{goal_id}.1.t1")
    attempt = overrides.pop("attempt", 1)
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "goal_id": goal_id,
        "occurred_at": utcnow(),
        "trace": Trace.new(),
        "task_id": task_id,
        "type": task_type,
        "description": "Find the boiling point of water at sea level.",
        "goal": "Explain how altitude changes cooking times.",
        "attempt": attempt,
        "deadline": utcnow() + timedelta(minutes=5),
    }
    fields.update(overrides)
    return TaskAssigned(**fields)


def dependency(
    local_id: str, output: str, task_type: TaskType = TaskType.RESEARCHER
) -> DependencyOutput:
    return DependencyOutput(
        task_id=f"g.1.{local_id}",
        type=task_type,
        description=f"the {local_id} assignment",
        output=output,
    )
