"""Runs the aggregator: consumes `plans` + `results`, publishes to `tasks.<type>` and `outputs`.

Before faust starts, the topics are checked: `plans` and `results` must have the same
partition count as each other, as the settings and as the goal table's changelog, or the
join would be wrong; the aggregator then refuses to start and exits with status 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import faust
from aiokafka.errors import KafkaConnectionError

from podium_aggregator.app import TABLE, Aggregator
from podium_aggregator.settings import AggregatorSettings
from podium_common import fetch_sessions
from podium_common.admin import check_co_partitioned, partition_counts
from podium_common.errors import ConfigError
from podium_common.health import serve_health
from podium_common.heartbeat import Heartbeat, Holding
from podium_common.kafka import Publisher
from podium_common.service import (
    kafka_unreachable,
    new_event_loop,
    setup_logging,
    tune_gc,
    worker_id,
)
from podium_common.settings import KafkaSettings

log = logging.getLogger(__name__)


async def preflight(settings: AggregatorSettings) -> None:
    """Raises ConfigError when the topics the goal table is joined over do not line up."""
    kafka = settings.kafka
    await check_co_partitioned(kafka)
    changelog = f"{kafka.topics.group('aggregator')}-{TABLE}-changelog"
    counts = await partition_counts(kafka, [kafka.topics.plans, changelog])
    wanted = {kafka.topics.plans: kafka.partitions, changelog: counts[kafka.topics.plans]}
    for topic, count in counts.items():
        if count != wanted[topic]:
            raise ConfigError(
                f"{topic} has {count} partitions, {wanted[topic]} expected",
                setting="PODIUM_KAFKA__PARTITIONS",
            )


def with_health(aggregator: Aggregator, host: str, port: int) -> None:
    """Serves `/healthz`, `/readyz` and `/metrics` while the worker runs."""

    async def health() -> None:
        server = await serve_health(host, port, aggregator.ready)
        try:
            await server
        finally:
            server.cancel()

    aggregator.app.task(health)


def with_heartbeat(aggregator: Aggregator, kafka: KafkaSettings) -> None:
    """Beats on `heartbeats` while the worker runs, with the partitions it holds."""
    group = kafka.topics.group("aggregator")

    def holding() -> Holding:
        actives = aggregator.app.assignor.assigned_actives()
        return Holding(0, sorted(f"{tp.topic}[{tp.partition}]" for tp in actives))

    async def beat() -> None:
        publisher = Publisher(kafka, client_id=f"{group}-heartbeat")
        await publisher.start()
        try:
            await Heartbeat(
                worker_id=worker_id("aggregator"),
                service="aggregator",
                group=group,
                topic=kafka.topics.heartbeats,
                send=publisher.send,
                holding=holding,
                interval_s=kafka.heartbeat_interval_s,
            ).run()
        finally:
            await publisher.stop()

    aggregator.app.task(beat)


def main() -> None:
    settings = AggregatorSettings()
    setup_logging(settings.log_level, settings.log_format)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(preflight(settings))
    except ConfigError as error:
        log.error("the aggregator refuses to start: %s", error)
        sys.exit(2)
    except KafkaConnectionError as error:
        kafka_unreachable(error)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    fetch_sessions.install(settings.kafka.fetch_sessions)  # faust's consumer, started below
    aggregator = Aggregator(settings)
    if settings.health_port is not None:
        with_health(aggregator, settings.health_host, settings.health_port)
    with_heartbeat(aggregator, settings.kafka)
    worker = faust.Worker(aggregator.app, loglevel=settings.log_level, loop=loop, quiet=True)
    # faust's terminal spinner sets the root logger to DEBUG at WARNING and above, so that
    # it spins on every record: every debug call of faust and mode then built its record.
    worker.spinner = None
    tune_gc()
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
