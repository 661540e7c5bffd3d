"""Start-up and shutdown shared by every service process: logging, signals, the run loop."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal, NoReturn

from aiokafka.errors import KafkaConnectionError
from pydantic_settings import BaseSettings

from podium_common import faults, logs, metrics, tracing
from podium_common.health import serve_health
from podium_common.heartbeat import Heartbeat, Holding
from podium_common.kafka import Publisher
from podium_common.logs import LogFormat
from podium_common.runloop import Fetching, Handler, LoopConfig, RunLoop
from podium_common.settings import KafkaSettings, service_config

log = logging.getLogger(__name__)


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """What every service process does first: logging (plain text, or JSON lines with the
    ids of the record being handled), traces when `OTEL_TRACES_EXPORTER` asks for them, and
    the test-only fault switch."""
    faults.install()
    logs.configure(level, log_format)
    tracing.configure()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the LLM client logs every call


def worker_id(service: str) -> str:
    """Identifies this process in results and logs."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"


def on_shutdown(stop: Callable[[], None]) -> None:
    """Calls `stop` on SIGTERM or SIGINT: the service drains (for at most
    `PODIUM_KAFKA__DRAIN_TIMEOUT_S`), commits and exits 0."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def run_consumer(
    *,
    service: str,
    kafka: KafkaSettings,
    topics: Sequence[str],
    handler: Handler,
    max_in_flight: int,
    publisher: Publisher | None = None,
    health: tuple[str, int | None] = ("127.0.0.1", None),
    fetching: Fetching | None = None,
) -> None:
    """Runs a service's run loop until SIGTERM; the publisher is started and stopped here
    unless the caller passes one it owns."""
    own = publisher is None
    publisher = publisher or Publisher(kafka, client_id=kafka.topics.group(service))
    if own:
        await publisher.start()
    try:
        loop = RunLoop(
            kafka,
            LoopConfig(
                group_id=kafka.topics.group(service),
                topics=topics,
                max_in_flight=max_in_flight,
                max_poll_interval_ms=kafka.max_poll_interval_ms,
                session_timeout_ms=kafka.session_timeout_ms,
                drain_timeout_s=kafka.drain_timeout_s,
                fetching=fetching or Fetching(),
            ),
            handler,
            publisher,
        )
        on_shutdown(loop.stop)
        host, port = health
        server = await serve_health(host, port, loop.ready) if port is not None else None
        beating = asyncio.create_task(heartbeat(service, kafka, loop, publisher).run())
        try:
            await loop.run()
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            if server is not None:
                server.cancel()
    finally:
        if own:
            await publisher.stop()


def heartbeat(service: str, kafka: KafkaSettings, loop: RunLoop, publisher: Publisher) -> Heartbeat:
    """The heartbeat of a run-loop service: its records in flight, its partitions."""
    return Heartbeat(
        worker_id=worker_id(service),
        service=service,
        group=loop.config.group_id,
        topic=kafka.topics.heartbeats,
        send=publisher.send,
        holding=lambda: Holding(
            loop.in_flight, [f"{tp.topic}[{tp.partition}]" for tp in loop.assignment()]
        ),
        interval_s=kafka.heartbeat_interval_s,
    )


class LoopSettings(BaseSettings):
    """`PODIUM_EVENT_LOOP`: `uvloop` (libuv, in C) or the standard library's event loop.
    At the rates where each record comes alone, a consumer's fetch cycle is mostly event
    loop turns: on uvloop the services spent 5-7% less CPU a goal at 8 and 16 goals/s, for
    about 2 MB more memory each (docs/benchmarks-history.md); in a saturated closed loop, no
    difference beyond the noise."""

    model_config = service_config()

    event_loop: Literal["asyncio", "uvloop"] = "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop of the kind `PODIUM_EVENT_LOOP` names."""
    if LoopSettings().event_loop == "asyncio":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


def tune_gc() -> None:
    """Called once start-up is done. What start-up made lives as long as the process:
    frozen, the cyclic collector no longer walks it. Collections come after 20,000
    allocations instead of 700: with a thousand LLM calls in flight, each collection walked
    every call's objects, and a worker spent 1.7 ms of CPU per task at 1024 in flight (1.4
    ms so). Each collection's pause is timed (`podium_gc_pause_seconds`)."""
    trim_heap()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    metrics.GcPauses().install()


def trim_heap() -> bool:
    """Gives the C heap's free pages back to the system (glibc's `malloc_trim`): start-up
    frees much of what it allocated (schemas parsed, settings read, modules set up), and
    the pages stay in the process until trimmed — 1.7 MB of the aggregator's idle memory.
    False where there is no glibc to ask (musl, macOS): nothing is trimmed there."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def main(entry: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs a service's async entry point; exits 0 after a graceful stop."""
    tune_gc()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        try:
            runner.run(entry())
        except KafkaConnectionError as error:
            kafka_unreachable(error)


def kafka_unreachable(error: KafkaConnectionError) -> NoReturn:
    """Exits 1, saying what to check, when the broker cannot be reached or refuses this
    client (a wrong address, password or certificate): not a traceback."""
    log.error(
        "Kafka could not be reached or refused this client (%s). Check "
        "PODIUM_KAFKA__BOOTSTRAP_SERVERS and, with TLS or SASL, PODIUM_KAFKA__SECURITY_PROTOCOL, "
        "PODIUM_KAFKA__SSL_CAFILE and PODIUM_KAFKA__SASL_*; aiokafka's error above names the cause",
        error,
    )
    sys.exit(1)
