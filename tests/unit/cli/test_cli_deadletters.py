"""The dead-letter and replay commands' pure parts: a letter's line, re-drive bookkeeping,
the names a topic or group may be given by, and the arguments."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import OffsetAndMetadata

from podium_cli.__main__ import parser
from podium_cli.commands.dlq import describe
from podium_cli.commands.replay import timestamp
from podium_cli.deadletters import Letter, Position, dlq_topics
from podium_cli.replay import group_id
from podium_common.settings import KafkaSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def letter(**headers: str) -> Letter:
    return Letter(
        topic="p.results.dlq",
        partition=1,
        offset=4,
        timestamp=NOW - timedelta(minutes=90),
        key=b"goal-1",
        value=b"\x00",
        headers=headers,
    )


def test_a_letter_is_one_line_with_its_error_origin_and_age() -> None:
    line = describe(
        letter(
            **{
                "error.kind": "unknown_schema",
                "error.message": "unknown schema\nfingerprint 00ff",
                "source.topic": "p.results",
                "source.partition": "2",
                "source.offset": "17",
            }
        ),
        NOW,
        prefix="p.",
    )
    assert line == (
        "results.dlq[1]@4  key=goal-1  unknown_schema: unknown schema fingerprint 00ff  "
        "from results[2]@17  age 1h"
    )


def test_a_letter_without_headers_still_names_its_source() -> None:
    assert letter().source_topic == "p.results"
    assert "?: " in describe(letter(), NOW)


def test_positions_remember_single_re_drives_until_they_join_the_committed_offset() -> None:
    position = Position.of(None, start=3)
    assert (position.below, position.done(2), position.done(3)) == (3, True, False)
    position.mark(5)
    assert position.done(5)
    assert not position.done(4)
    assert position.commit() == OffsetAndMetadata(3, "[5]")

    again = Position.of(position.commit(), start=0)
    again.mark(3)
    again.mark(4)
    assert again.commit() == OffsetAndMetadata(6, "[]")
    assert Position.of(OffsetAndMetadata(-1, ""), start=2).below == 2


def test_topics_and_groups_are_named_with_or_without_prefix_and_suffix() -> None:
    kafka = KafkaSettings(topic_prefix="p.")
    assert dlq_topics(kafka, "results") == ["p.results.dlq"]
    assert dlq_topics(kafka, "p.results.dlq") == ["p.results.dlq"]
    every = dlq_topics(kafka, None)
    assert "p.tasks.researcher.dlq" in every
    assert all(name.endswith(".dlq") for name in every)
    assert group_id(kafka, "recorder") == "p.podium-recorder"
    assert group_id(kafka, "p.podium-worker-validator") == "p.podium-worker-validator"


def test_times_need_an_offset_and_redrive_needs_all_or_an_offset() -> None:
    assert timestamp("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="no UTC offset"):
        timestamp("2026-11-23T10:00:00")
    args = parser().parse_args(["dlq", "redrive", "results.dlq", "--offset", "3"])
    assert (args.all, args.offset, args.partition) == (False, 3, 0)
    with pytest.raises(SystemExit):
        parser().parse_args(["dlq", "redrive", "results.dlq"])
    with pytest.raises(SystemExit):
        parser().parse_args(["replay", "planner", "--to-beginning", "--to-offset", "1"])
    rerun = parser().parse_args(["rerun", "0b6f3f8e-7c1a-4d5e-9a57-2f1c0d9e4b21"])
    assert [str(goal) for goal in rerun.goal_ids] == ["0b6f3f8e-7c1a-4d5e-9a57-2f1c0d9e4b21"]
