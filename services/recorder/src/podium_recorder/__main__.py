"""Runs the recorder: consumes every topic (not the dead letters), projects into PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import logging

from podium_common.errors import Unavailable
from podium_common.postgres import create_pool
from podium_common.runloop import Fetching
from podium_common.service import main as run_main
from podium_common.service import run_consumer, setup_logging
from podium_recorder import migrations
from podium_recorder.batching import GroupCommit
from podium_recorder.handler import handle
from podium_recorder.repository import Repository
from podium_recorder.settings import RecorderSettings

SERVICE = "recorder"

log = logging.getLogger(__name__)


async def migrate(settings: RecorderSettings) -> None:
    """Applies the migrations, waiting for PostgreSQL while it is down."""
    while True:
        try:
            await migrations.apply(settings.postgres.dsn.get_secret_value())
            return
        except Unavailable as error:
            log.warning("waiting for PostgreSQL: %s", error)
            await asyncio.sleep(settings.startup_retry_s)


async def serve(settings: RecorderSettings) -> None:
    """Records events until SIGTERM or SIGINT, then drains, commits and returns."""
    await migrate(settings)
    # Short transactions, nothing else: no session state to reset on release.
    pool = await create_pool(settings.postgres, reset_session=False)
    try:
        await run_consumer(
            service=SERVICE,
            kafka=settings.kafka,
            topics=settings.kafka.topics.all(with_dlq=False),
            handler=functools.partial(handle, store=GroupCommit(Repository(pool))),
            max_in_flight=settings.max_in_flight,
            health=(settings.health_host, settings.health_port),
            fetching=Fetching(settings.fetch_min_bytes, settings.fetch_max_wait_ms),
        )
    finally:
        await pool.close()


async def start() -> None:
    settings = RecorderSettings()
    setup_logging(settings.log_level, settings.log_format)
    await serve(settings)


def main() -> None:
    run_main(start)


if __name__ == "__main__":
    main()
