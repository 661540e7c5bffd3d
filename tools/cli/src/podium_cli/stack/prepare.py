"""What the services need before they start: topics, Podium's database, its migrations."""

from __future__ import annotations

import asyncio
import time

from aiokafka.errors import KafkaError

from podium_cli.errors import StackError
from podium_cli.settings import CliSettings
from podium_cli.stack.postgres import ensure_database
from podium_common.admin import ensure_topics
from podium_common.settings import KafkaSettings
from podium_recorder.migrations import apply


async def prepare(settings: CliSettings, admin_dsn: str | None, timeout_s: float) -> None:
    """Creates the topics (waiting for a broker that is still starting), the database when
    the stack runs its own PostgreSQL, and applies the recorder's migrations."""
    created = await topics_when_ready(settings.kafka_for_stack(), timeout_s)
    partitions = settings.kafka.partitions
    shown = f"created {len(created)}" if created else "all present"
    print(f"topics       {shown} ({partitions} partitions)")
    if admin_dsn is not None and await ensure_database(admin_dsn):
        print("database     created `podium`")
    await apply_migrations(settings.postgres_dsn)


async def topics_when_ready(kafka: KafkaSettings, timeout_s: float) -> list[str]:
    """`ensure_topics`, retried while the broker is not ready yet, for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await ensure_topics(kafka)
        except (KafkaError, OSError) as error:
            if time.monotonic() > deadline:
                raise StackError(
                    f"Kafka at {kafka.bootstrap_servers} did not take the topics within "
                    f"{timeout_s:.0f}s: {error!r}"
                ) from error
            await asyncio.sleep(0.5)


async def apply_migrations(dsn: str) -> None:
    await apply(dsn)
    print("migrations   applied")
