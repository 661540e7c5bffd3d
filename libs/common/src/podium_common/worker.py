"""The runtime every worker type shares: one task in, the LLM asked, one result out.

A `WorkerRole` holds what differs between worker types: the task type, the system prompt,
whether the LLM answers JSON, and how its reply becomes the task's output (and, for the
validator, a verdict). `run_task` does the rest. An LLM failure never escapes it: the
task ends as a failed `TaskResult` whose error kind says why:

    deadline          the task's deadline passed, before or during the call
    llm_rejected      the endpoint refused the request (a 4xx other than 429)
    llm_unavailable   still 429 / 5xx / unreachable after the LLM client's retries
    llm_malformed     no usable reply within `WorkerRole.max_replies` replies

The user message follows the workers' prompt contract (`podium_common.prompts`).

Delegation: a task offered it (`max_subtasks` > 0, set by the aggregator within the goal's
limits) may be answered with a sub-plan instead, in the planner's JSON contract
(`{"tasks": [...]}`, reviewed by the planner's own code, `podium_common.plans`). An invalid
sub-plan is asked again with its errors, like any unusable reply; a valid one becomes the
result's `subtasks`, with ids under the task's (`<task id>/<attempt>.<digest>.<local id>`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podium_common.errors import ConfigError, LLMError, LLMMalformed
from podium_common.events import (
    PlannedTask,
    TaskAssigned,
    TaskError,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Verdict,
    derived_id,
    local_task_id,
    subplan_prefix,
    utcnow,
)
from podium_common.llm import LLM, Message, Request
from podium_common.plans import planned_tasks, review
from podium_common.prompts import user_message
from podium_common.structured import unfenced
from podium_common.topics import TaskType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a task produced: its output text and, for a validation, the verdict."""

    output: str
    verdict: Verdict | None = None
    subtasks: tuple[PlannedTask, ...] = ()


def plain_text(reply: str) -> Outcome:
    """A plain-text answer is the output as it stands; an empty one is malformed."""
    text = reply.strip()
    if not text:
        raise LLMMalformed("the reply was empty")
    return Outcome(output=text)


@dataclass(frozen=True)
class WorkerRole:
    """What one worker type brings to the shared runtime."""

    task_type: TaskType
    system_prompt: str
    json_output: bool = False
    # The JSON schema of the reply, generated from the model `parse` reads it with; the
    # LLM is asked for that shape (constrained decoding, where the endpoint has it).
    schema: dict[str, Any] | None = None
    # Turns the LLM's reply into the outcome; raises LLMMalformed for an unusable reply.
    parse: Callable[[str], Outcome] = plain_text
    # Replies asked for before an unusable answer fails the task (the first one included).
    max_replies: int = 3
    temperature: float = 0.2

    def __post_init__(self) -> None:
        if self.max_replies < 1:
            raise ConfigError("a worker role must allow at least one reply", role=self.task_type)


def first_messages(task: TaskAssigned, role: WorkerRole) -> list[Message]:
    """What a worker sends the LLM first for a task, a pure function of the task and its
    role: the role's system prompt (with the offer to delegate, when one is made) and the
    task as the user message. The gateway's console shows a task's prompt with it."""
    offered = offered_subtasks(task, role)
    system = role.system_prompt + (delegation_prompt(offered) if offered else "")
    return [Message("system", system), Message("user", user_message(task))]


def offered_subtasks(task: TaskAssigned, role: WorkerRole) -> int:
    """The most subtasks the task may delegate to; never for a role that answers JSON."""
    return task.max_subtasks if not role.json_output else 0


def delegation_prompt(max_subtasks: int) -> str:
    """What a task that may delegate is told, after its role's system prompt."""
    return DELEGATION.format(most=max_subtasks)


DELEGATION = """

Delegation: when this task is too large for one answer, you may hand it to a sub-plan \
instead of answering: its tasks run in your place and a synthesis of their outputs \
becomes the answer. Most subtasks: {most}
To delegate, answer with one JSON object and nothing else, of exactly this shape:
{{"tasks": [{{"id": "s1", "type": "researcher", "description": "...", "requirements": \
["..."], "depends_on": [], "requires_approval": null}}]}}
The rules of a plan hold: ids unique (s1, s2, ...); type one of researcher, specialist, \
validator, synthesizer; a validator depends on the task it checks; no cycles; at most \
"Most subtasks" tasks. Otherwise, answer the task directly, as usual."""


def is_subplan(reply: str) -> bool:
    """A reply that is a JSON object with `tasks`: a sub-plan, not an answer."""
    try:
        parsed = json.loads(unfenced(reply).strip(), strict=False)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "tasks" in parsed


def subplan(task: TaskAssigned, reply: str, most: int) -> Outcome:
    """The reply read as the task's sub-plan; raises LLMMalformed with every problem."""
    found = review(reply, max_tasks=most)
    if found.errors:
        raise LLMMalformed(f"the sub-plan is invalid: {'; '.join(found.errors)}")
    tasks = planned_tasks(found.tasks, run_prefix=subplan_prefix(task.task_id, task.attempt))
    names = ", ".join(local_task_id(planned.task_id) for planned in tasks)
    return Outcome(
        output=f"Delegated to a sub-plan of {len(tasks)}: {names}", subtasks=tuple(tasks)
    )


def repair_message(error: LLMMalformed) -> str:
    """Asks again after an unusable reply, saying what was wrong with it."""
    return (
        f"Your reply could not be used: {error.message}. "
        "Answer again, following the instructions exactly."
    )


@dataclass
class _Run:
    """One task being run: what its LLM calls cost is kept even when it fails."""

    task: TaskAssigned
    worker_id: str
    model: str
    started: float = field(default_factory=time.monotonic)
    usage: TokenUsage = field(default_factory=TokenUsage)

    def failed(self, kind: str, message: str) -> TaskResult:
        task = self.task
        log.warning("task %s attempt %d failed: %s: %s", task.task_id, task.attempt, kind, message)
        error = TaskError(kind=kind, message=message)
        return self.result(TaskStatus.FAILED, error=error)

    def result(
        self, status: TaskStatus, *, outcome: Outcome | None = None, error: TaskError | None = None
    ) -> TaskResult:
        task = self.task
        return TaskResult(
            event_id=derived_id("result", task.task_id, task.attempt),
            goal_id=task.goal_id,
            run=task.run,
            occurred_at=utcnow(),
            trace=task.trace.child(),
            task_id=task.task_id,
            type=task.type,
            status=status,
            output=outcome.output if outcome else None,
            verdict=outcome.verdict if outcome else None,
            subtasks=list(outcome.subtasks) if outcome else [],
            depth=task.depth,
            error=error,
            model=self.model,
            usage=self.usage,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            worker_id=self.worker_id,
            attempt=task.attempt,
            final=task.final,
        )


async def run_task(
    task: TaskAssigned, *, llm: LLM, role: WorkerRole, worker_id: str, model: str
) -> TaskResult:
    """Runs one task with the LLM; `model` is the worker's, unless the task names one."""
    run = _Run(task, worker_id, model=task.model or model)
    remaining = (task.deadline - utcnow()).total_seconds()
    if remaining <= 0:
        return run.failed(
            "deadline", f"the deadline {task.deadline.isoformat()} passed before the task began"
        )
    try:
        async with asyncio.timeout(remaining) as scope:
            outcome = await _ask(run, llm=llm, role=role)
    except TimeoutError:
        if not scope.expired():
            raise
        return run.failed(
            "deadline", f"the deadline {task.deadline.isoformat()} passed during the LLM call"
        )
    except LLMError as error:
        return run.failed(error.kind, str(error))
    return run.result(TaskStatus.SUCCEEDED, outcome=outcome)


async def _ask(run: _Run, *, llm: LLM, role: WorkerRole) -> Outcome:
    """Asks until a reply parses, at most `role.max_replies` times.

    Not a retry of the same request (the run loop's policy owns those): each ask carries
    the unusable reply and what was wrong with it, a conversation the run loop could not
    continue. Its bound ends in `LLMMalformed`, which `run_task` turns into a failed result,
    so an "ask again" never reaches the run loop from a worker."""
    offered = offered_subtasks(run.task, role)
    messages = first_messages(run.task, role)
    requested = run.model  # what we ask for; the endpoint may report a more precise name
    for reply in range(1, role.max_replies + 1):
        completion = await llm.complete(
            Request(
                model=requested,
                messages=tuple(messages),
                json_output=role.json_output,
                temperature=role.temperature,
                schema=role.schema,
                schema_name=f"{role.task_type.value}_reply",
            )
        )
        run.model = completion.model
        run.usage += completion.usage
        try:
            if offered and is_subplan(completion.text):
                return subplan(run.task, completion.text, offered)
            return role.parse(completion.text)
        except LLMMalformed as error:
            if completion.cut:
                error = LLMMalformed(
                    f"it was cut off at the length limit, answer shorter ({error.message})"
                )
            log.warning("unusable reply %d for %s: %s", reply, run.task.task_id, error)
            if reply == role.max_replies:
                raise LLMMalformed(
                    f"no usable reply in {reply} replies; the last: {error.message}",
                    task_id=run.task.task_id,
                ) from error
            messages += [
                Message("assistant", completion.text),
                Message("user", repair_message(error)),
            ]
    raise AssertionError("unreachable: WorkerRole checks that max_replies >= 1")
