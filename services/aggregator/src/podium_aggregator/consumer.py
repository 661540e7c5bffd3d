"""The aggregator's Kafka consumer: faust's own, made to hand the agent every record in order.

faust can let records go by unhandled: those it fetched before a rebalance or while a
table recovered (it drops them, and acknowledges them), and those it drops when a
rebalance cuts a fetch short. The partition's fetch position has moved past them, so the
running process would never see them again; the next record it delivers then comes after
a gap, and faust counts the gap as done. A goal whose result fell in the gap waits until
its deadline.

This consumer keeps, per partition, the next offset the agent must handle:
- a record at that offset is admitted; one below it (delivered again) is let go;
- a record past it (a gap) rewinds the partition to it, and the records that arrive
  before the rewound one are let go (they come again, in order);
- a partition with records waiting past it while none arrives is rewound too;
- no commit passes it, whatever faust acknowledged.

It also chooses how long the broker holds each fetch (`fetch_hold`), where faust fixes
1.5 s. A partition whose fetched records are still being handled is left out of the next
fetch, and records that arrive on it meanwhile wait until that fetch returns: under load
faust's hold kept each of a goal's steps in the aggregator for up to 1.5 s. And it hands
each record to the agent's channel in place when that does not wait (`eager`), where
faust races every hand-off in tasks of its own; and it runs on the agent's event loop
(`in_loop`), where faust gives it a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal, cast

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP
from mode import Service, ServiceT

from podium_aggregator.eager import started
from podium_aggregator.fetch_hold import SHORT_HOLD_MS, hold_per_fetch
from podium_aggregator.in_loop import InLoop
from podium_aggregator.producer import IdempotentProducer

log = logging.getLogger(__name__)

# Records the fetch loop hands on before it lets the event loop run (faust's figure).
YIELD_EVERY = 100


class HandledConsumer(Consumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return FetchingThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The next offset the agent must handle, per assigned partition.
        self.next_offset: dict[TP, int] = {}
        # Partitions rewound to their next offset, waiting for that record to come again.
        self.rewinding: set[TP] = set()
        # When a record of the partition last reached the agent (monotonic seconds).
        self.last_seen: dict[TP, float] = {}

    async def admit(self, tp: TP, offset: int) -> bool:
        """Whether the agent handles this record now: it is its partition's next one."""
        self.last_seen[tp] = time.monotonic()
        expected = self.next_offset.get(tp)
        if expected is None:
            expected = self.next_offset[tp] = await self._start_of(tp)
        verdict = turn(offset, expected, rewinding=tp in self.rewinding)
        if verdict == "handle":
            self.rewinding.discard(tp)
        elif verdict == "rewind":
            log.warning(
                "%s[%d]: record %d came before %d: rewinding",
                tp.topic,
                tp.partition,
                offset,
                expected,
            )
            await self.rewind(tp)
        return verdict == "handle"

    def on_handled(self, tp: TP, offset: int) -> None:
        self.next_offset[tp] = offset + 1

    async def rewind(self, tp: TP) -> None:
        """Fetches the partition again from its next offset."""
        expected = self.next_offset.get(tp)
        if expected is not None:
            self.rewinding.add(tp)
            await self.seek(tp, expected)

    async def unstick(self, partitions: set[TP], quiet_s: float) -> None:
        """Rewinds each partition that has records past its next offset while none reached
        the agent for `quiet_s` (a fetch that stopped, or records dropped at its end).
        Called once the assignment's recovery is done, so committed offsets are known; a
        partition revoked meanwhile is left alone."""
        now = time.monotonic()
        for tp in partitions:
            if tp not in self.next_offset:
                start = await self._start_of(tp)
                self.next_offset.setdefault(tp, start)
            self.last_seen.setdefault(tp, now)
        ends = await self.highwaters(*partitions) if partitions else {}
        for tp in partitions:
            expected, seen = self.next_offset.get(tp), self.last_seen.get(tp)
            if expected is None or seen is None:
                continue  # revoked while we asked the broker
            if ends.get(tp, 0) > expected and now - seen > quiet_s:
                log.warning(
                    "%s[%d]: records from %d wait, none arrived for %.0f s: rewinding",
                    tp.topic,
                    tp.partition,
                    expected,
                    quiet_s,
                )
                self.last_seen[tp] = now
                await self.rewind(tp)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self.next_offset.pop(tp, None)
            self.rewinding.discard(tp)
            self.last_seen.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _start_of(self, tp: TP) -> int:
        """Where a newly assigned partition starts: its committed offset (faust reads it
        when the assignment's recovery seeks), else the earliest record kept."""
        earliest = (await self.earliest_offsets(tp)).get(tp, 0)
        committed = self._committed_offset.get(tp)
        return max(committed or 0, earliest)

    def _new_offset(self, tp: TP) -> int | None:
        return commit_bound(super()._new_offset(tp), self.next_offset.get(tp))

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """faust's fetch loop (`Consumer._drain_messages`), with one change: each record is
        handed to the agent's channel in place (`eager.started`), and only a hand-off that
        waits (the channel full, the flow stopped for a rebalance, the producer's buffer
        over its limit) is raced against the flow being suspended, as faust races all."""
        deliver, suspended = self.callback, self.suspend_flow
        read_offset, acking = self._read_offset, self.app.topics.acks_enabled_for
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        commit_every, since_yield = self._commit_every, 0
        try:
            while not (self._stopped.is_set() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may not wait: let the loop run between
                if self.should_stop:
                    continue
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:  # a long fetch lets the agent run
                        await asyncio.sleep(0)
                        since_yield = 0
                    last = read_offset[tp]
                    if last is not None and message.offset < last:
                        continue  # read already (a seek back), as faust drops it
                    if last and message.offset - last > 1 and acking(message.topic):
                        await self._add_gap(tp, last + 1, message.offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    waiting = started(deliver(message))
                    if waiting is not None:
                        await self.wait_first(waiting, suspended.wait())
                    read_offset[tp] = message.offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception:
            log.exception("the fetch loop failed")
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


def turn(offset: int, expected: int, *, rewinding: bool) -> Literal["handle", "skip", "rewind"]:
    """What becomes of a record, given the next offset its partition's agent must handle."""
    if offset == expected:
        return "handle"
    if offset < expected or rewinding:
        return "skip"  # delivered again, or ahead of a rewind already asked for
    return "rewind"  # records before it never came


def commit_bound(acknowledged: int | None, next_offset: int | None) -> int | None:
    """The offset to commit: what faust's acknowledgements allow, but never past the next
    record the agent must handle (None: nothing to commit)."""
    if acknowledged is None or next_offset is None:
        return None
    return min(acknowledged, next_offset)


class FetchingThread(InLoop, AIOKafkaConsumerThread):
    """faust's consumer thread, run on the agent's loop (`in_loop`), each fetch held by the
    broker as `fetch_hold` chooses: faust passes a fixed hold to the consumer it builds,
    which reads it only when it starts (its first fetches, before the choice is installed,
    are held `SHORT_HOLD_MS`)."""

    def _create_worker_consumer(self, transport: Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = SHORT_HOLD_MS
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        changelogs = frozenset(self.app.tables.changelog_topics)
        hold_per_fetch(self._ensure_consumer()._fetcher, changelogs)


class HandledTransport(Transport):
    """faust's Kafka transport with the consumer above and an idempotent producer."""

    Consumer = HandledConsumer
    Producer = IdempotentProducer
