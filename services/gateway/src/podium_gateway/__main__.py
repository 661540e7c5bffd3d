"""Runs the gateway: the HTTP API on uvicorn, its Kafka producer and PostgreSQL pool in its
lifespan; uvicorn drains open requests on SIGTERM."""

from __future__ import annotations

import asyncio
import functools

import uvicorn
from aiokafka.errors import KafkaConnectionError
from starlette.applications import Starlette

from podium_common.admin import partition_counts
from podium_common.kafka import Publisher
from podium_common.service import LoopSettings, kafka_unreachable, setup_logging, tune_gc
from podium_gateway.app import create_app
from podium_gateway.repository import Repository
from podium_gateway.settings import GatewaySettings

SERVICE = "gateway"


def build(settings: GatewaySettings) -> Starlette:
    publisher = Publisher(settings.kafka, client_id=settings.kafka.topics.group(SERVICE))
    return create_app(settings, publisher, Repository(settings.postgres))


def preflight(settings: GatewaySettings) -> None:
    """Connects to Kafka as the gateway will: a broker that cannot be reached or refuses
    this client (a wrong address, password or certificate) ends the process with one error
    saying what to check, where uvicorn would log its lifespan's traceback."""
    try:
        asyncio.run(partition_counts(settings.kafka, [settings.kafka.topics.goals]))
    except KafkaConnectionError as error:
        kafka_unreachable(error)


def main() -> None:
    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_format)
    preflight(settings)
    tune_gc()
    uvicorn.run(
        # A factory: uvicorn calls it inside its event loop, where Kafka clients must be made.
        functools.partial(build, settings),
        factory=True,
        loop=LoopSettings().event_loop,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws="none",  # no WebSocket route: a library that happens to be installed stays unloaded
        # Progress streams end within their grace period; the rest is a margin.
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
    )


if __name__ == "__main__":
    main()
