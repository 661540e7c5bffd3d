"""`podium rebuild`'s pure parts: the target database, the report, and how records that
cannot be projected are counted while PostgreSQL going away stops the rebuild."""

from __future__ import annotations

from collections import Counter

import pytest

from podium_cli.__main__ import parser
from podium_cli.errors import CommandError
from podium_cli.rebuild import Report, _project_all
from podium_cli.target import target
from podium_common.avro import codec
from podium_common.errors import Unavailable
from podium_common.events import Event
from tests.unit.common.runloop_fakes import record
from tests.unit.recorder.story import story

GOALS = "p.goals"
PODIUM = "postgresql://podium:secret@db.local:5432/podium?sslmode=require"


def test_a_name_is_a_database_on_the_server_of_podiums_database() -> None:
    into = target("podium_rebuilt", PODIUM)
    assert into.name == "podium_rebuilt"
    assert into.dsn == "postgresql://podium:secret@db.local:5432/podium_rebuilt?sslmode=require"
    assert into.on("postgres").startswith("postgresql://podium:secret@db.local:5432/postgres?")


def test_a_dsn_is_taken_as_it_is() -> None:
    dsn = "postgresql://other@10.0.0.1/readmodel"
    assert target(dsn, PODIUM).dsn == dsn
    assert target(dsn, PODIUM).name == "readmodel"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("two words", "neither a postgresql:// DSN nor a database name"),
        ("mysql://x@h/db", "not a postgresql:// DSN"),
        ("postgresql://u:pw@h/", "the DSN names no database"),
    ],
)
def test_a_bad_target_is_refused_saying_why_without_its_password(text: str, said: str) -> None:
    with pytest.raises(CommandError, match=said) as refused:
        target(text, PODIUM)
    assert "pw@" not in str(refused.value)


def test_the_target_database_is_required() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["rebuild"])
    args = parser().parse_args(["rebuild", "--database", "x", "--allow-non-empty"])
    assert (args.database, args.allow_non_empty) == ("x", True)


def test_the_report_names_records_per_topic_what_was_skipped_goals_and_time() -> None:
    report = Report(
        database="rebuilt",
        created=True,
        records=Counter({"goals": 3, "results": 12}),
        skipped=["p.results[0]@4: not Avro"],
        goals=2,
        runs=3,
        elapsed_s=1.25,
    )
    assert report.lines() == [
        "rebuilt rebuilt (created) from 2 topics in 1.2s: 15 records",
        "  goals           3 records",
        "  results        12 records",
        "  skipped: p.results[0]@4: not Avro",
        "goals: 2 (3 runs)",
    ]


async def test_records_that_do_not_decode_or_project_are_skipped_and_named() -> None:
    first, second, *_ = story().events
    projected: list[Event] = []

    async def project(event: Event) -> None:
        if event == second:
            raise ValueError("no such column")
        projected.append(event)

    report = Report(database="x")
    records = [
        record(0, codec().encode(first), topic=GOALS),
        record(1, b"junk", topic=GOALS),
        record(2, codec().encode(second), topic=GOALS),
    ]
    await _project_all(records, project, report, lambda topic: topic.removeprefix("p."))

    assert projected == [first]
    assert report.records == Counter({"goals": 1})
    assert [line.split(":")[0] for line in report.skipped] == ["p.goals[0]@1", "p.goals[0]@2"]
    assert "no such column" in report.skipped[1]


async def test_postgresql_going_away_stops_the_rebuild() -> None:
    async def project(event: Event) -> None:
        raise Unavailable("PostgreSQL unavailable: connection refused")

    with pytest.raises(CommandError, match="PostgreSQL went away during the rebuild"):
        await _project_all(
            [record(0, codec().encode(story().events[0]), topic=GOALS)], project, Report("x"), str
        )
