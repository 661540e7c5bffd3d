"""`podium rebuild`: the read model again, from every topic, into an empty database."""

from __future__ import annotations

import argparse
import asyncio

from podium_cli.rebuild import rebuild
from podium_cli.settings import CliSettings
from podium_cli.target import target


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "rebuild",
        help="replay every topic from the beginning into an empty database (the read model)",
        description=(
            "Creates the database if it is missing, applies the recorder's migrations and "
            "projects every record up to the end offsets seen at start, as the recorder does."
        ),
    )
    command.add_argument(
        "--database",
        required=True,
        metavar="DSN|NAME",
        help="a postgresql:// DSN, or a database name on the server of Podium's database",
    )
    command.add_argument(
        "--allow-non-empty",
        action="store_true",
        help="project into a database that already holds rows (refused otherwise)",
    )
    command.set_defaults(func=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    settings = CliSettings()
    into = target(args.database, settings.postgres_dsn)
    report = asyncio.run(
        rebuild(settings.kafka_for_stack(), into, allow_non_empty=args.allow_non_empty)
    )
    print("\n".join(report.lines()))
    return 0
