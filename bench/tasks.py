"""Tasks straight onto a worker's topic, results counted on `results`: a worker measured alone."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.infra import Infra, fresh_run
from bench.load import TopicWatcher
from bench.profile import recording
from bench.stack import Stack
from bench.stats import rate, summary
from podium_common.events import Event, TaskAssigned, TaskResult, Trace, derived_id, utcnow
from podium_common.kafka import Publisher
from podium_common.topics import TaskType

SERVICE = "worker-researcher"


def assignments(count: int) -> list[TaskAssigned]:
    """`count` independent researcher tasks of one goal each."""
    now = utcnow()
    tasks = []
    for _ in range(count):
        goal_id = uuid.uuid4()
        task_id = f"{goal_id}.1.t1"
        tasks.append(
            TaskAssigned(
                event_id=derived_id("task", task_id, 1),
                goal_id=goal_id,
                occurred_at=now,
                trace=Trace.new(),
                task_id=task_id,
                type=TaskType.RESEARCHER,
                description="Survey the options",
                goal="Compare PostgreSQL and MySQL for an analytics workload",
                attempt=1,
                deadline=now + timedelta(hours=1),
            )
        )
    return tasks


@dataclass
class ResultCounter:
    times: list[float] = field(default_factory=list)
    # Each result's `latency_ms`: the task's time in the worker's handler, LLM call included.
    handler_ms: list[int] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first result

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskResult):
            self.times.append(time.monotonic())
            self.handler_ms.append(event.latency_ms)
            self.first.set()


@dataclass(frozen=True)
class WorkerLoad:
    latency_ms: float
    max_in_flight: int = 64
    replicas: int = 1
    warmup_s: float = 5.0
    duration_s: float = 20.0
    # With a folder, the worker processes and the LLM are profiled (py-spy) in the window.
    profile_dir: Path | None = None


async def _feed(publisher: Publisher, counter: ResultCounter, backlog: int) -> None:
    """Keeps at least `backlog` tasks published and not yet answered."""
    published = 0
    while True:
        missing = backlog - (published - len(counter.times))
        if missing > 0:
            chunk = max(missing, backlog // 2)
            await publisher.publish(assignments(chunk))
            published += chunk
        else:
            await asyncio.sleep(0.05)


async def measure(infra: Infra, load: WorkerLoad) -> dict[str, Any]:
    """Tasks/s of `replicas` worker processes fed a backlog; RSS at its highest."""
    ideal = load.replicas * load.max_in_flight / (load.latency_ms / 1000)
    backlog = max(2 * load.replicas * load.max_in_flight, int(ideal * 2))
    async with fresh_run(infra) as run:
        stack = Stack(run, llm_latency_ms=load.latency_ms)
        stack.start_llm()
        counter = ResultCounter()
        watcher = TopicWatcher(run.kafka, run.kafka.topics.results, counter)
        publisher = Publisher(run.kafka, client_id="bench")
        await watcher.start()
        await publisher.start()
        feeder = asyncio.create_task(_feed(publisher, counter, backlog))
        try:
            # The LLM client's pool (1024 connections by default) must not cap the limit.
            env = {
                "PODIUM_MAX_IN_FLIGHT": str(load.max_in_flight),
                "PODIUM_LLM__MAX_CONNECTIONS": str(max(1024, load.max_in_flight)),
            }
            names = [stack.start(SERVICE, replica=r, **env) for r in range(1, load.replicas + 1)]
            await stack.wait_ready()
            async with stack.watched():
                return await _window(stack, counter, load, names, ideal)
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            stack.stop()
            await publisher.stop()
            await watcher.stop()


async def _window(
    stack: Stack, counter: ResultCounter, load: WorkerLoad, names: list[str], ideal: float
) -> dict[str, Any]:
    await counter.first.wait()  # a worker that exits first fails the wait (Stack.watched)
    await asyncio.sleep(load.warmup_s)
    done_before, started, cpu_before = len(counter.times), time.monotonic(), stack.cpu()
    rss = dict.fromkeys(names, 0.0)
    with (
        nullcontext()
        if load.profile_dir is None
        else recording(stack.pids(), load.duration_s, load.profile_dir)
    ):
        while time.monotonic() - started < load.duration_s:
            await asyncio.sleep(1)
            rss = {name: max(rss[name], stack.rss()[name]) for name in names}
    seconds, cpu_after = time.monotonic() - started, stack.cpu()
    done = len(counter.times) - done_before
    tasks_per_s = rate(done, seconds)
    return {
        "tasks_per_s": tasks_per_s,
        "ideal_tasks_per_s": round(ideal, 1),
        "efficiency": round(tasks_per_s / ideal, 3),
        # How long a slot was held (Little's law: in flight / throughput), against how long
        # the handler took: the difference is spent in the run loop, outside any handler.
        "slot_ms": round(1000 * load.replicas * load.max_in_flight / tasks_per_s, 1)
        if tasks_per_s
        else None,
        "handler_ms": summary(counter.handler_ms[done_before : done_before + done]),
        "rss_mb": max(rss.values()),
        # The share of one core each process used: 1.0 is a process that is CPU-bound.
        "cores_busy": {
            name: round((cpu_after[name] - cpu_before[name]) / seconds, 2) for name in cpu_after
        },
    }
