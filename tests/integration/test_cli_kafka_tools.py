"""The `podium` CLI's Kafka tools on the real broker and PostgreSQL: dead letters listed and
re-driven once each, a stopped consumer group's offsets moved (an active one refused), and
ended goals resubmitted as their next run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from podium_cli.__main__ import run as podium
from podium_cli.errors import CommandError
from podium_cli.replay import Target, group_id, reset
from podium_cli.rerun import rerun
from podium_common.avro import codec
from podium_common.deadletters import NoSuchLetter, dlq_topics, read, redrive
from podium_common.errors import UndecodableRecord
from podium_common.events import GoalSubmitted, derived_id, utcnow
from podium_common.kafka import Publisher
from podium_common.postgres import create_pool
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_recorder import migrations
from podium_recorder.handler import project
from podium_recorder.repository import Repository
from tests.conftest import committed
from tests.unit.recorder.story import GOAL_TEXT, story

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def everything(kafka: KafkaSettings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record now in `topic`."""
    letters = await read(kafka, [topic])
    return [(letter.key, letter.value) for letter in letters]


async def test_dead_letters_are_listed_and_each_re_driven_once(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    results = kafka.topics.results
    for number in range(3):
        await publisher.dead_letter(
            topic=results,
            partition=number,
            offset=10 + number,
            key=f"k{number}".encode(),
            value=f"bytes {number}".encode(),
            error=UndecodableRecord(f"broken {number}"),
        )
    (dlq,) = dlq_topics(kafka, "results")
    assert dlq == kafka.topics.dlq(results)
    assert dlq_topics(kafka, "results.dlq") == [dlq]

    letters = await read(kafka, dlq_topics(kafka, None))
    assert sorted((letter.key, letter.value) for letter in letters) == [
        (b"k0", b"bytes 0"),
        (b"k1", b"bytes 1"),
        (b"k2", b"bytes 2"),
    ]
    first = next(letter for letter in letters if letter.key == b"k1")
    assert first.topic == dlq
    assert first.headers["error.kind"] == "undecodable"
    assert first.headers["error.message"] == "broken 1"
    assert (first.source_topic, first.get("source.partition"), first.get("source.offset")) == (
        results,
        "1",
        "11",
    )
    assert (utcnow() - first.timestamp) < timedelta(minutes=1)

    one = await redrive(kafka, dlq, offset=first.offset, partition=first.partition)
    assert [(letter.key, letter.value) for letter in one] == [(b"k1", b"bytes 1")]
    assert await everything(kafka, results) == [(b"k1", b"bytes 1")]
    with pytest.raises(NoSuchLetter, match="no letter to re-drive"):
        await redrive(kafka, dlq, offset=first.offset, partition=first.partition)

    rest = await redrive(kafka, dlq, offset=None, partition=0)
    assert sorted(letter.key or b"" for letter in rest) == [b"k0", b"k2"]
    assert await redrive(kafka, dlq, offset=None, partition=0) == []
    assert sorted(await everything(kafka, results)) == [
        (b"k0", b"bytes 0"),
        (b"k1", b"bytes 1"),
        (b"k2", b"bytes 2"),
    ]


async def test_a_goals_letters_are_re_driven_together_in_the_order_they_were_parked(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    goals = kafka.topics.goals
    parked = [f"event {number}".encode() for number in range(300)]
    for number, value in enumerate(parked):
        await publisher.dead_letter(
            topic=goals,
            partition=0,
            offset=number,
            key=b"one-goal",
            value=value,
            error=UndecodableRecord(f"broken {number}"),
        )
    (dlq,) = dlq_topics(kafka, "goals")

    redriven = await redrive(kafka, dlq, offset=None, partition=0)

    assert [letter.value for letter in redriven] == parked
    assert await everything(kafka, goals) == [(b"one-goal", value) for value in parked]
    assert await redrive(kafka, dlq, offset=None, partition=0) == []


async def test_the_dlq_commands_print_letters_and_refuse_unknown_topics(
    kafka: KafkaSettings,
    publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PODIUM_KAFKA__BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("PODIUM_KAFKA__TOPIC_PREFIX", kafka.topic_prefix)
    await publisher.dead_letter(
        topic=kafka.topics.goals,
        partition=2,
        offset=7,
        key=b"goal-key",
        value=b"junk",
        error=UndecodableRecord("not Avro"),
    )

    assert await _in_thread(["dlq", "list", "goals"]) == 0
    listed = capsys.readouterr().out
    assert "goals.dlq[" in listed
    assert "key=goal-key  undecodable: not Avro  from goals[2]@7  age " in listed
    assert listed.rstrip().endswith("1 dead letters")

    assert await _in_thread(["dlq", "redrive", "goals.dlq", "--all"]) == 0
    assert "1 letters re-driven" in capsys.readouterr().out
    assert await _in_thread(["dlq", "list", "nope"]) == 1
    assert "no such topic" in capsys.readouterr().err


async def _in_thread(argv: list[str]) -> int:
    """`podium ARGV` runs its own event loop, so it cannot run on the test's."""
    return await asyncio.to_thread(podium, argv)


async def test_replay_moves_a_stopped_group_and_refuses_an_active_one(
    kafka: KafkaSettings,
) -> None:
    goals = kafka.topics.goals
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for number in range(4):
            await producer.send_and_wait(goals, f"r{number}".encode(), partition=0)
    finally:
        await producer.stop()
    before = utcnow()
    group = group_id(kafka, "planner")
    assert group == kafka.topics.group("planner")
    assert group_id(kafka, group) == group

    consumer = AIOKafkaConsumer(
        goals,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 4:
            batches = await consumer.getmany(timeout_ms=500)
            seen += sum(len(batch) for batch in batches.values())
        await consumer.commit()
        with pytest.raises(CommandError, match="active members"):
            await reset(kafka, group, Target())
    finally:
        await consumer.stop()
    partition0 = TopicPartition(goals, 0)
    assert (await committed(kafka, group))[partition0] == 4

    assert (await reset(kafka, group, Target()))[partition0] == 0
    assert (await committed(kafka, group))[partition0] == 0
    assert (await reset(kafka, group, Target(offset=2)))[partition0] == 2
    assert (await reset(kafka, group, Target(offset=99)))[partition0] == 4  # the end
    assert (await reset(kafka, group, Target(time=before - timedelta(hours=1))))[partition0] == 0
    assert (await reset(kafka, group, Target(time=before + timedelta(hours=1))))[partition0] == 4
    assert (await committed(kafka, group))[partition0] == 4
    with pytest.raises(CommandError, match="no committed offsets"):
        await reset(kafka, group_id(kafka, "nobody"), Target())


async def test_rerun_publishes_the_next_run_of_an_ended_goal(
    kafka: KafkaSettings, pg_dsn: str
) -> None:
    await migrations.apply(pg_dsn)
    postgres = PostgresSettings(dsn=pg_dsn)
    pool = await create_pool(postgres)
    ended, running = story(), story()
    try:
        repository = Repository(pool)
        for event in ended.events:
            await repository.record(project(event))
        for event in running.events[:3]:
            await repository.record(project(event))
    finally:
        await pool.close()

    with pytest.raises(CommandError, match="is running"):
        await rerun(kafka, postgres, [running.goal_id])
    with pytest.raises(CommandError, match="no goal"):
        await rerun(kafka, postgres, [uuid.uuid4()])
    (published,) = await rerun(kafka, postgres, [ended.goal_id])

    (record,) = [letter.value for letter in await read(kafka, [kafka.topics.goals]) if letter.value]
    event = codec().decode(record)
    assert event == published
    assert isinstance(event, GoalSubmitted)
    assert (event.goal_id, event.run) == (ended.goal_id, 2)
    assert event.event_id == derived_id("goal", ended.goal_id, 2)
    assert event.goal == GOAL_TEXT
    submitted = ended.events[0]
    assert isinstance(submitted, GoalSubmitted)
    assert event.options == submitted.options
