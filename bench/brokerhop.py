"""The broker's own hop on this machine, with nothing of Podium's in it: one record at a
time from a producer set up as every service's (`Publisher`: acks=all, idempotence, no
linger) to a consumer fetching as the run loop does (`Fetching`), at the pace goals
arrive while the overhead is measured.

Every hop of a goal pays at least this, and the 4-task plan's critical path crosses
`CRITICAL_HOPS` of them; their sum is the floor under the overhead on this machine (where
a process woken after a pause is slow: an idle core's wake-up is most of a hop)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.stats import summary
from podium_common.kafka import Publisher, client_options
from podium_common.runloop import Fetching
from podium_common.settings import KafkaSettings

# goals→planner, tasks→researcher, results→aggregator, tasks→specialist,
# results→aggregator, tasks→synthesizer, results→aggregator, outputs→client.
CRITICAL_HOPS = 8


async def broker_hop(kafka: KafkaSettings, per_s: float, seconds: float) -> dict[str, Any]:
    """Records sent `per_s` a second for `seconds`; each one's time from the send to the
    consumer's fetch returning it, in ms."""
    topic = f"{kafka.topic_prefix}bench-hop"
    admin = AIOKafkaAdminClient(**client_options(kafka), client_id="podium-bench")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, kafka.replication_factor)])
    finally:
        await admin.close()
    fetching = Fetching()
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_min_bytes=fetching.min_bytes,
        fetch_max_wait_ms=fetching.max_wait_ms,
    )
    publisher = Publisher(kafka, client_id="podium-bench-hop")
    await consumer.start()
    await publisher.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await publisher.send(topic, b"warm-up", b"0")  # metadata and connections first
        await consumer.getmany(timeout_ms=5000)
        hops: list[float] = []
        arrived = asyncio.Event()
        receiving = asyncio.create_task(_receive(consumer, hops, arrived))
        interval = 1 / max(per_s, 0.1)
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            await publisher.send(topic, b"hop", str(time.perf_counter()).encode())
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * interval - time.monotonic()))
        async with asyncio.timeout(10):
            while len(hops) < sent:
                arrived.clear()
                await arrived.wait()
        receiving.cancel()
    finally:
        await publisher.stop()
        await consumer.stop()
    return {"per_s": round(per_s, 2), "records": len(hops), "hop_ms": summary(hops)}


async def _receive(consumer: AIOKafkaConsumer, hops: list[float], arrived: asyncio.Event) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=1000)
        now = time.perf_counter()
        for records in batches.values():
            hops += [
                1000 * (now - float(record.value or b"0"))
                for record in records
                if record.key == b"hop"
            ]
        arrived.set()
