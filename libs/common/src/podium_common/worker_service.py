"""A worker process: its settings, its Kafka wiring, and the entry point every worker's
`__main__` calls. The task logic stays in each worker's `handler.py` (see `worker.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from pydantic import Field

from podium_common.budget import spending
from podium_common.errors import UnexpectedEvent
from podium_common.events import Event, TaskAssigned, TaskResult
from podium_common.ledger import LedgerSettings
from podium_common.llm import LLM
from podium_common.llm_cache import build_llm
from podium_common.llm_limits import LimitedLLM
from podium_common.prices import PriceTable
from podium_common.runloop import Handler
from podium_common.service import main, run_consumer, setup_logging, worker_id
from podium_common.settings import BaseServiceSettings, LLMSettings
from podium_common.topics import TaskType


class WorkerSettings(BaseServiceSettings):
    """A worker process's settings, from `PODIUM_*` environment variables:

    PODIUM_MODEL                     the model for this worker type's tasks (each worker
                                     sets its default); a task that names a model wins
    PODIUM_MAX_IN_FLIGHT             tasks one process handles at once (default 256)
    PODIUM_LLM__BASE_URL             the OpenAI-compatible endpoint; with
                                     PODIUM_LLM__API_KEY, PODIUM_LLM__TIMEOUT_S, ...
    PODIUM_LLM__MAX_TOKENS__<TYPE>   the longest reply of this worker type's tasks;
                                     PODIUM_LLM__CONTEXT_TOKENS the model's context
    PODIUM_KAFKA__BOOTSTRAP_SERVERS  the broker; with PODIUM_KAFKA__TOPIC_PREFIX, ...
    PODIUM_LEDGER__DSN               token budgets and the cluster's LLM rate, shared in
                                     PostgreSQL; with PODIUM_LEDGER__RATE_LIMITS, ...
    PODIUM_PRICES                    price per million tokens per model: the calls' cost
    PODIUM_HEALTH_PORT               serves /healthz, /readyz, /metrics (off when unset)
    PODIUM_LOG_LEVEL                 INFO by default
    """

    llm: LLMSettings = LLMSettings()
    ledger: LedgerSettings = LedgerSettings()
    prices: PriceTable = Field(default_factory=dict)
    model: str
    max_in_flight: int = Field(default=256, ge=1)


class TaskHandler(Protocol):
    """A worker's `handler.handle`."""

    async def __call__(
        self, task: TaskAssigned, llm: LLM, *, worker_id: str, model: str
    ) -> TaskResult: ...


def service_name(task_type: TaskType) -> str:
    """The worker's service folder name, which also names its consumer group."""
    return f"worker-{task_type.value}"


def task_handler(
    task_type: TaskType, handle: TaskHandler, *, llm: LLM, worker_id: str, model: str
) -> Handler:
    """Adapts a worker's `handle` to the run loop: a `TaskAssigned` in, its result out."""

    async def handler(event: Event) -> Sequence[Event]:
        if not isinstance(event, TaskAssigned) or event.type != task_type:
            raise UnexpectedEvent(
                f"{service_name(task_type)} takes only {task_type.value} tasks",
                event=type(event).__name__,
                goal_id=event.goal_id,
                event_id=event.event_id,
            )
        with spending(event.goal_id, event.run):
            return [await handle(event, llm, worker_id=worker_id, model=model)]

    return handler


async def serve_worker(
    task_type: TaskType, handle: TaskHandler, settings: WorkerSettings, *, llm: LLM | None = None
) -> None:
    """Consumes `tasks.<type>` and publishes results until SIGTERM, then drains and commits.
    The LLM client is built from the settings and closed here, unless the caller passes one."""
    if llm is None:
        built = build_llm(settings.llm, ledger=settings.ledger, prices=settings.prices)
        client = LimitedLLM(built, settings.llm, role=task_type.value)
        try:
            await serve_worker(task_type, handle, settings, llm=client)
        finally:
            await client.close()
        return
    service = service_name(task_type)
    await run_consumer(
        service=service,
        kafka=settings.kafka,
        topics=[settings.kafka.topics.tasks(task_type)],
        handler=task_handler(
            task_type, handle, llm=llm, worker_id=worker_id(service), model=settings.model
        ),
        max_in_flight=settings.max_in_flight,
        health=(settings.health_host, settings.health_port),
    )


def run_worker(task_type: TaskType, handle: TaskHandler, settings: WorkerSettings) -> None:
    """The body of every worker's `main()`."""
    setup_logging(settings.log_level, settings.log_format)
    main(functools.partial(serve_worker, task_type, handle, settings))
