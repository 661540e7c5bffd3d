"""Goals in through the gateway, outcomes watched on the `outputs` topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from podium_common.avro import codec
from podium_common.events import Event, GoalCompleted, GoalFailed
from podium_common.settings import KafkaSettings

# The workload: no directive plans 2 parallel researcher tasks and a specialist
# depending on both; the aggregator adds the final synthesis.
GOAL = "Compare PostgreSQL and MySQL for an analytics workload"
TASKS_PER_GOAL = 4
# Below the gateway's keep-alive (uvicorn's 5 s): the client closes an idle connection
# first, so it never sends a goal on one the server is closing.
KEEPALIVE_S = 2.0


class Ended(NamedTuple):
    at: float
    completed: bool


class TopicWatcher:
    """Reads every partition of one topic from its end, handing each event to `on_event`."""

    def __init__(self, kafka: KafkaSettings, topic: str, on_event: Callable[[Event], None]):
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False
        )
        self._topic = topic
        self._partitions = kafka.partitions
        self._on_event = on_event
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        tps = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before anything is produced
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        decode = codec().decode
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    self._on_event(decode(record.value or b""))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


@dataclass
class GoalDriver:
    """Submits goals and notes when each was submitted and when its outcome arrived."""

    gateway_url: str
    kafka: KafkaSettings
    submitted: dict[uuid.UUID, float] = field(default_factory=dict)
    ended: dict[uuid.UUID, Ended] = field(default_factory=dict)
    _waiters: dict[uuid.UUID, asyncio.Future[None]] = field(default_factory=dict)

    async def __aenter__(self) -> GoalDriver:
        # aiohttp, not httpx: this client shares the machine with what it measures, and
        # httpx's AsyncClient spent 2.4-2.9 ms of CPU a request at 64 in flight against
        # aiohttp's 0.13-0.14 (docs/benchmarks-history.md, "The benchmark's client").
        self._client = aiohttp.ClientSession(
            self.gateway_url,
            connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self._watcher = TopicWatcher(self.kafka, self.kafka.topics.outputs, self._on_outcome)
        await self._watcher.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._watcher.stop()
        await self._client.close()

    def _on_outcome(self, event: Event) -> None:
        if not isinstance(event, GoalCompleted | GoalFailed) or event.goal_id in self.ended:
            return
        self.ended[event.goal_id] = Ended(time.monotonic(), isinstance(event, GoalCompleted))
        waiter = self._waiters.pop(event.goal_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def submit(self, text: str = GOAL) -> uuid.UUID:
        started = time.monotonic()
        async with self._client.post("/goals", json={"goal": text}) as response:
            response.raise_for_status()
            goal_id = uuid.UUID((await response.json())["goal_id"])
        self.submitted[goal_id] = started
        return goal_id

    async def run_one(self, text: str = GOAL) -> uuid.UUID:
        """Submits a goal and returns once its outcome is on `outputs`."""
        goal_id = await self.submit(text)
        if goal_id not in self.ended:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[goal_id] = waiter
            await waiter
        return goal_id

    async def drain(self, within_s: float = 120) -> None:
        """Returns once every goal submitted so far has its outcome."""
        deadline = time.monotonic() + within_s
        while any(gid not in self.ended for gid in self.submitted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"goals without an outcome after {within_s}s")
            await asyncio.sleep(0.1)

    def latencies_ms(self, goal_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
        return {
            gid: (self.ended[gid].at - self.submitted[gid]) * 1000
            for gid in goal_ids
            if gid in self.ended and gid in self.submitted
        }
