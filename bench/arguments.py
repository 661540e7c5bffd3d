"""What `python -m bench` reads from its command line beyond plain numbers: each value
checked as it is read, a bad one named in the error (argparse prints it with the usage)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from typing import TypeVar

T = TypeVar("T")


def parse_levels(text: str) -> tuple[int, ...]:
    """Concurrency levels, comma-separated ("64,256,1024"); each a positive whole number."""
    levels = []
    for part in text.split(","):
        try:
            level = int(part)
        except ValueError:
            raise ValueError(f"not a concurrency level: {part.strip()!r}") from None
        if level < 1:
            raise ValueError(f"a concurrency level must be 1 or more, not {level}")
        levels.append(level)
    return tuple(levels)


def parse_systems(text: str, known: Collection[str]) -> tuple[str, ...]:
    """System names, comma-separated ("podium,langgraph"); each one of `known`."""
    systems = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in systems if name not in known]
    if unknown:
        raise ValueError(f"no such system: {', '.join(unknown)} (known: {', '.join(known)})")
    return systems


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` as an argparse `type`: its ValueError becomes argparse's error, so the
    command says what was wrong instead of printing a traceback."""

    def read(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return read
