"""What `python -m bench` reads from its command line beyond plain numbers: each value
checked as it is read, a bad one named in the error (argparse prints it with the usage)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection
from typing import TypeVar

T = TypeVar("T")
N = TypeVar("N", int, float)


def numbers(
    text: str, read: Callable[[str], N], noun: str, fits: Callable[[N], bool], rule: str
) -> tuple[N, ...]:
    """Comma-separated numbers, each read by `read` and checked by `fits`; the error names
    the part that is not a `noun`, or the number that breaks the `rule`."""
    found = []
    for part in text.split(","):
        try:
            value = read(part)
        except ValueError:
            raise ValueError(f"not a {noun}: {part.strip()!r}") from None
        if not fits(value):
            raise ValueError(f"a {noun} must be {rule}, not {part.strip()}")
        found.append(value)
    return tuple(found)


def parse_rates(text: str) -> tuple[float, ...]:
    """Rates written as goals/s, comma-separated ("32,38.05"); each a positive number."""
    return numbers(text, float, "rate in goals/s", lambda rate: 0 < rate < math.inf, "positive")


def parse_levels(text: str) -> tuple[int, ...]:
    """Concurrency levels, comma-separated ("64,256,1024"); each a positive whole number."""
    return numbers(text, int, "concurrency level", lambda level: level >= 1, "1 or more")


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
