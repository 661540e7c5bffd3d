"""`podium topics create` and `podium migrate`: what a deployment runs once before the services."""

from __future__ import annotations

import argparse
import asyncio

from podium_cli.settings import CliSettings
from podium_common.admin import ensure_topics
from podium_recorder.migrations import apply


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = commands.add_parser("topics", help="Kafka topics")
    verbs = topics.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser(
        "create",
        help="create every missing topic (PODIUM_KAFKA__PARTITIONS, default 6); idempotent",
    )
    create.set_defaults(func=cmd_topics_create)
    migrate = commands.add_parser(
        "migrate", help="apply the PostgreSQL migrations (PODIUM_POSTGRES__DSN); idempotent"
    )
    migrate.set_defaults(func=cmd_migrate)


def cmd_topics_create(_: argparse.Namespace) -> int:
    settings = CliSettings()
    created = asyncio.run(ensure_topics(settings.kafka_for_stack()))
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = CliSettings()
    asyncio.run(apply(settings.postgres_dsn))
    print("migrations applied")
    return 0
