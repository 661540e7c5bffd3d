"""`python -m bench`'s command line: a bad concurrency level, system name or rate is named in an
error with the usage, not a traceback, and nothing runs."""

from __future__ import annotations

import argparse

import pytest

from bench.arguments import argument, parse_levels, parse_rates, parse_systems

KNOWN = ("podium", "celery", "langgraph")


def test_levels_read_as_positive_whole_numbers_and_a_bad_one_is_named() -> None:
    assert parse_levels("64, 256,1024") == (64, 256, 1024)
    with pytest.raises(ValueError, match="not a concurrency level: 'many'"):
        parse_levels("64,many")
    with pytest.raises(ValueError, match="must be 1 or more, not 0"):
        parse_levels("0,256")
    with pytest.raises(ValueError, match=r"not a concurrency level: '2\.5'"):
        parse_levels("2.5")


def test_systems_are_the_known_ones_and_an_unknown_one_is_named() -> None:
    assert parse_systems("podium, langgraph", KNOWN) == ("podium", "langgraph")
    with pytest.raises(ValueError, match="no such system: podum, redis"):
        parse_systems("podum,celery,redis", KNOWN)


def test_rates_read_as_positive_goals_per_s_and_a_bad_one_is_named() -> None:
    assert parse_rates("32,38.05") == (32.0, 38.05)
    for text, named in [("32,x", "'x'"), ("0", "0"), ("-4", "-4"), ("nan", "nan"), ("", "''")]:
        with pytest.raises(ValueError, match=named):
            parse_rates(text)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", exit_on_error=False)
    parser.add_argument("--celery-concurrency", type=argument(parse_levels))
    parser.add_argument("--systems", type=argument(lambda text: parse_systems(text, KNOWN)))
    parser.add_argument("--rates", type=argument(parse_rates))
    return parser


def test_the_command_line_takes_good_values_and_refuses_a_bad_one_with_its_reason() -> None:
    args = parser().parse_args(["--celery-concurrency", "256", "--systems", "celery"])
    assert (args.celery_concurrency, args.systems, args.rates) == ((256,), ("celery",), None)
    for option, value, reason in [
        ("--celery-concurrency", "-4", "must be 1 or more, not -4"),
        ("--systems", "podum", "no such system: podum"),
        ("--rates", "fast", "not a rate in goals/s: 'fast'"),
    ]:
        with pytest.raises(argparse.ArgumentError, match=reason):
            parser().parse_args([option, value])
