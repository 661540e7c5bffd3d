"""`podium dlq list` and `podium dlq redrive`: dead letters, shown and sent back."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from podium_cli.deadletters import Letter, dlq_topics, read, redrive
from podium_cli.settings import CliSettings

MESSAGE_WIDTH = 80


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: list them, re-drive them")
    verbs = dlq.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="the letters in every <topic>.dlq, or in one")
    listing.add_argument("topic", nargs="?", help="e.g. results or results.dlq (default: all)")
    listing.set_defaults(func=cmd_list)
    again = verbs.add_parser(
        "redrive",
        help="re-publish letters' original bytes to their source topic, each letter once",
    )
    again.add_argument("topic", help="the dead-letter topic, e.g. results.dlq")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every letter not re-driven yet")
    which.add_argument("--offset", type=int, help="the letter at this offset only")
    again.add_argument("--partition", type=int, default=0, help="its partition (default 0)")
    again.set_defaults(func=cmd_redrive)


def cmd_list(args: argparse.Namespace) -> int:
    kafka = CliSettings().kafka_for_stack()
    letters = asyncio.run(read(kafka, dlq_topics(kafka, args.topic)))
    now = datetime.now(UTC)
    for letter in letters:
        print(describe(letter, now, kafka.topics.prefix))
    print(f"{len(letters)} dead letters")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    kafka = CliSettings().kafka_for_stack()
    (topic,) = dlq_topics(kafka, args.topic)
    offset = None if args.all else args.offset
    letters = asyncio.run(redrive(kafka, topic, offset=offset, partition=args.partition))
    for letter in letters:
        print(
            f"re-driven {letter.topic}[{letter.partition}]@{letter.offset} → {letter.source_topic}"
        )
    print(f"{len(letters)} letters re-driven")
    return 0


def describe(letter: Letter, now: datetime, prefix: str = "") -> str:
    """One line: where the letter is, its key, its error, where it came from, its age."""
    message = " ".join(letter.get("error.message").split())
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    source = (
        f"{letter.source_topic.removeprefix(prefix)}"
        f"[{letter.get('source.partition')}]@{letter.get('source.offset')}"
    )
    key = letter.key.decode(errors="replace") if letter.key is not None else "-"
    return (
        f"{letter.topic.removeprefix(prefix)}[{letter.partition}]@{letter.offset}  "
        f"key={key}  {letter.get('error.kind') or '?'}: {message}  "
        f"from {source}  age {age(now - letter.timestamp)}"
    )


def age(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
