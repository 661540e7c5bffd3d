"""Kafka over TLS with SASL/SCRAM, for real: a broker of its own (the stack's own start-up
code, free ports, a temporary folder) whose only client listener is SASL_SSL with
SCRAM-SHA-512, its certificate made here with openssl and its one user made when its
storage is formatted. A goal flows through every service over it; a client without TLS,
or with a wrong password, can neither produce nor consume; a service given a wrong password
exits 1 saying which settings to check, with no traceback; the password is in no log."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from podium_cli.settings import CliSettings, DevSettings
from podium_cli.stack.kafka import Kafka, SaslSsl
from podium_cli.stack.layout import Layout, find_checkout
from podium_cli.stack.processes import free_ports
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from tests.conftest import fresh_database
from tests.e2e.conftest import SERVICES, Stack, kafka_env, running_stack
from tests.e2e.test_goals import submit, wait_for_end
from tests.servers import serving
from tests.tls import make_ca, make_server_cert

pytestmark = pytest.mark.e2e

PASSWORD = f"scram-{uuid.uuid4().hex}"
# Every worker type: two researchers, a chain of two specialists, a validator, the synthesis.
GOAL = "Compare two caches [parallel=2][chain=2][validate]"
# What aiokafka logs when the broker turns a client away.
REFUSED = re.compile(r"Unable (?:to )?connect|Unable to bootstrap|SaslAuthenticationFailed")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    """A broker of its own that takes clients only over SASL_SSL as user `podium`."""
    state = tmp_path_factory.mktemp("kafka-sasl-ssl")
    certs = state / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_server_cert(certs)
    port, controller = free_ports(2)
    dev = DevSettings(kafka_port=port, controller_port=controller, kafka_heap_mb=512)
    layout = Layout(checkout=find_checkout(Path(__file__).parent), state=state,
                    cache=CliSettings().cache_dir)  # fmt: skip
    sasl_ssl = SaslSsl(keystore=certs / "server.pem", truststore=certs / "ca.pem",
                       username="podium", password=SecretStr(PASSWORD))  # fmt: skip
    kafka = Kafka(layout, dev, partitions=3, sasl_ssl=sasl_ssl)
    try:
        with serving(kafka, ready_within_s=90):
            yield kafka
    finally:
        shutil.rmtree(kafka.data, ignore_errors=True)  # its topics; its log stays


@pytest.fixture(scope="module")
async def secure_stack(
    tmp_path_factory: pytest.TempPathFactory, broker: Kafka
) -> AsyncIterator[Stack]:
    async with (
        fresh_database() as dsn,
        running_stack(tmp_path_factory, dsn, kafka=broker.client()) as stack,
    ):
        yield stack


@pytest.fixture(scope="module")
async def completed(secure_stack: Stack) -> dict[str, Any]:
    """One goal, run through every service over SASL_SSL."""
    async with httpx.AsyncClient(base_url=secure_stack.gateway, timeout=10) as gateway:
        goal_id = await submit(gateway, GOAL)
        try:
            return await wait_for_end(gateway, goal_id, 60)
        except TimeoutError:
            print(secure_stack.log_tail())
            raise


async def test_a_goal_flows_through_every_service_over_sasl_ssl(
    secure_stack: Stack, completed: dict[str, Any]
) -> None:
    assert secure_stack.kafka.security_protocol == "SASL_SSL"
    assert completed["status"] == "completed", completed
    assert completed["output"].startswith("Answer:"), completed
    assert all(task["status"] == "succeeded" for task in completed["tasks"]), completed["tasks"]
    assert {task["type"] for task in completed["tasks"]} == {kind.value for kind in TaskType}
    assert secure_stack.dead() == []


async def test_the_gateway_reads_heartbeats_and_dead_letters_over_sasl_ssl(
    secure_stack: Stack, completed: dict[str, Any]
) -> None:
    """The clients a service makes on demand: the console's reads of the heartbeats, the
    groups' lag and the dead-letter topics, and its re-drive's; and every consumer's
    heartbeat publisher."""
    async with httpx.AsyncClient(base_url=secure_stack.gateway, timeout=30) as gateway:
        workers = await gateway.get("/console/api/workers")
        letters = await gateway.get("/console/api/deadletters")
        asked = {"topic": "results", "partition": 0, "offset": 0}
        redrive = await gateway.post("/console/api/deadletters/redrive", json=asked)
        again = await gateway.get("/console/api/deadletters")
    assert workers.status_code == 200, workers.text
    beats = workers.json()["workers"]
    consumers = {name.removeprefix("podium-") for name in SERVICES} - {"gateway"}
    assert {beat["service"] for beat in beats} == consumers, beats
    assert all(isinstance(beat["lag"], int) for beat in beats), beats
    assert letters.status_code == 200, letters.text
    assert letters.json() == {"letters": []}
    assert redrive.status_code == 404, redrive.text
    assert "no letter to re-drive" in redrive.json()["error"]["message"], redrive.text
    assert again.json() == {"letters": []}


async def round_trip(kafka: KafkaSettings, topic: str) -> None:
    """Produces one record to `topic` and consumes it back, as `kafka` says to connect."""
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(**client_options(kafka), request_timeout_ms=5000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_options(kafka), auto_offset_reset="earliest",
                                request_timeout_ms=5000)  # fmt: skip
    await consumer.start()
    try:
        while (await asyncio.wait_for(consumer.getone(), 15)).value != value:
            pass
    finally:
        await consumer.stop()


async def refused(kafka: KafkaSettings, topic: str) -> None:
    """Asserts that `kafka`'s client can neither produce to nor consume from `topic`."""
    producer = AIOKafkaProducer(**client_options(kafka), request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(topic, **client_options(kafka), request_timeout_ms=5000)
    try:
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await producer.start()
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await consumer.start()
    finally:
        await producer.stop()
        await consumer.stop()


async def test_a_client_without_tls_or_with_a_wrong_password_is_refused(
    secure_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    good = secure_stack.kafka
    topic = f"{good.topic_prefix}probe"
    admin = AIOKafkaAdminClient(**client_options(good))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    await round_trip(good, topic)

    caplog.set_level(logging.ERROR, logger="aiokafka")
    await refused(KafkaSettings(bootstrap_servers=good.bootstrap_servers), topic)
    assert "SaslAuthenticationFailed" not in caplog.text
    await refused(good.model_copy(update={"sasl_password": SecretStr("not-the-password")}), topic)
    assert "SaslAuthenticationFailed" in caplog.text, caplog.text


async def test_no_log_holds_the_password_and_no_service_was_refused(
    secure_stack: Stack, broker: Kafka, completed: dict[str, Any]
) -> None:
    assert completed["status"] == "completed", completed
    logs = {path.name: path.read_text() for path in secure_stack.logs.glob("*.log")}
    assert len(logs) == len(secure_stack.processes), sorted(logs)
    for name, text in logs.items():
        assert text, f"{name} logged nothing"
        assert PASSWORD not in text, f"the SCRAM password is in {name}"
        refusal = REFUSED.search(text)
        assert refusal is None, f"{name}: {refusal and refusal.group()}"
    assert PASSWORD not in broker.log.read_text(), "the SCRAM password is in the broker's log"


@pytest.mark.parametrize("service", ["planner", "worker-researcher", "aggregator", "gateway"])
async def test_a_service_with_a_wrong_password_exits_saying_what_to_check(
    broker: Kafka, tmp_path: Path, service: str
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    settings = broker.client().model_copy(
        update={"sasl_password": SecretStr(wrong), "topic_prefix": f"t{uuid.uuid4().hex[:8]}."}
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PODIUM_")}
    env |= kafka_env(settings) | {"PODIUM_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / f"{service}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / f"podium-{service}"),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        status = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    said = log.read_text()
    assert status == 1, said
    assert "SaslAuthenticationFailed" in said, said
    assert "Check PODIUM_KAFKA__BOOTSTRAP_SERVERS" in said, said
    assert "PODIUM_KAFKA__SASL_*" in said, said
    assert "Traceback" not in said, said
    assert "Unclosed" not in said, said  # its producer was closed, not left to the collector
    assert wrong not in said, "the password is in the log"
