"""`podium replay` and `podium rerun`: read the topics again, run goals again."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import datetime

from podium_cli.errors import CommandError
from podium_cli.replay import Target, group_id, reset
from podium_cli.rerun import postgres_settings, rerun
from podium_cli.settings import CliSettings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay", help="move a stopped consumer group's offsets: it reads its topics again"
    )
    replay.add_argument("group", help="a service (planner, recorder, …) or a full group id")
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-beginning", action="store_true", help="the oldest records kept")
    where.add_argument("--to-offset", type=int, metavar="N", help="offset N of every partition")
    where.add_argument(
        "--to-time", type=timestamp, metavar="ISO", help="the first record at or after a time"
    )
    replay.set_defaults(func=cmd_replay)
    again = commands.add_parser("rerun", help="resubmit ended goals as a new run (run + 1)")
    again.add_argument("goal_ids", nargs="+", type=uuid.UUID, metavar="GOAL_ID")
    again.set_defaults(func=cmd_rerun)


def timestamp(text: str) -> datetime:
    """An ISO 8601 time with its offset (`Z` allowed): a time without one is ambiguous."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +hh:mm)")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    kafka = CliSettings().kafka_for_stack()
    group = group_id(kafka, args.group)
    if args.to_offset is not None and args.to_offset < 0:
        raise CommandError("--to-offset must be 0 or more")
    target = Target(offset=args.to_offset, time=args.to_time)
    offsets = asyncio.run(reset(kafka, group, target))
    for tp, offset in offsets.items():
        print(f"{tp.topic}[{tp.partition}] → {offset}")
    print(f"consumer group {group}: {len(offsets)} partitions reset")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    settings = CliSettings()
    postgres = postgres_settings(settings.postgres, settings.postgres_dsn)
    goals = asyncio.run(rerun(settings.kafka_for_stack(), postgres, args.goal_ids))
    for goal in goals:
        print(f"{goal.goal_id} run {goal.run}")
    return 0
