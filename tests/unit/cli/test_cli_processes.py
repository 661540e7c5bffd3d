"""Pidfiles, ports and bounded waits, with real (tiny) local processes."""

from __future__ import annotations

import random
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium_cli.errors import StackError
from podium_cli.stack import processes


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_read_pid_takes_the_first_line(tmp_path: Path):
    pidfile = tmp_path / "x.pid"
    assert processes.read_pid(pidfile) is None
    pidfile.write_text("123\n/data\n54329\n")
    assert processes.read_pid(pidfile) == 123
    pidfile.write_text("garbage")
    assert processes.read_pid(pidfile) is None


def test_a_pidfile_counts_only_for_its_own_live_process(tmp_path: Path):
    log, pidfile = tmp_path / "sleep.log", tmp_path / "sleep.pid"
    marker = "podium-unit-sleeper"
    child = processes.spawn(
        [sys.executable, "-c", "import sys, time; time.sleep(60)", marker],
        log=log,
        pidfile=pidfile,
    )
    try:
        # Until the child has exec'd, its command line is still the parent's.
        deadline = time.monotonic() + 10
        while not processes.is_ours(child.pid, marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.running_pid(pidfile, marker) == child.pid
        assert processes.running_pid(pidfile, "another-marker") is None
        assert not pidfile.exists(), "a pid that runs something else is stale"
    finally:
        child.kill()
        child.wait()
    pidfile.write_text(f"{child.pid}\n")
    assert processes.running_pid(pidfile, marker) is None
    assert not pidfile.exists()
    assert "starting:" in log.read_text()


def test_terminate_stops_a_process_and_kills_one_that_ignores_sigterm(tmp_path: Path):
    polite = processes.spawn(
        [sys.executable, "-c", "import time; time.sleep(60)"], log=tmp_path / "a.log", pidfile=None
    )
    stubborn = processes.spawn(
        [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('sigterm ' + 'ignored', flush=True); time.sleep(60)"],
        log=tmp_path / "b.log", pidfile=None,
    )  # fmt: skip
    processes.wait_until(
        lambda: "sigterm ignored" in (tmp_path / "b.log").read_text(), what="b", timeout_s=10,
        log=tmp_path / "b.log",
    )  # fmt: skip
    assert processes.terminate(polite.pid, 5.0) is False
    assert processes.terminate(stubborn.pid, 0.5) is True
    for child in (polite, stubborn):
        assert not processes.is_ours(child.pid, sys.executable)
        child.wait(5)  # already reaped by terminate: only tells Popen so


def test_a_foreign_listener_is_refused_with_port_and_setting(listener: int):
    assert processes.port_open(listener)
    with pytest.raises(StackError) as refused:
        processes.refuse_foreign_port(listener, "Kafka broker", "PODIUM_DEV__KAFKA_PORT")
    message = str(refused.value)
    assert f"port {listener} is in use by" in message
    assert "PODIUM_DEV__KAFKA_PORT=<port>" in message
    processes.refuse_foreign_port(processes.free_port(), "Kafka broker", "PODIUM_DEV__KAFKA_PORT")


def test_wait_until_fails_fast_when_the_process_dies(tmp_path: Path):
    log = tmp_path / "dies.log"
    child = processes.spawn(
        [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log=log, pidfile=None
    )
    with pytest.raises(StackError, match=r"(?s)exited with status 3.*boom"):
        processes.wait_until(lambda: False, what="dies", timeout_s=30, log=log, process=child)


def test_wait_until_times_out_with_the_log(tmp_path: Path):
    log = tmp_path / "slow.log"
    log.write_text("still starting\n")
    with pytest.raises(StackError, match=r"(?s)not ready after 0s.*still starting"):
        processes.wait_until(lambda: False, what="slow", timeout_s=0.3, log=log)
    assert processes.wait_until(lambda: True, what="quick", timeout_s=1, log=log) < 1


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    # Below the range outgoing connections take their local ports from, a picked port
    # cannot be taken by a client's connection before its server binds it.
    ports = processes.free_ports(8)
    assert len(set(ports)) == 8
    assert all(processes.PORTS_FROM <= port < processes._ephemeral_start() for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_is_not_picked_twice_in_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # Picked ports are let go at once and bound later by their servers: a second pick of the
    # same free port would start two servers on one port.
    first = processes.free_port()
    draws = iter([first, first, first])
    pick = random.randrange
    monkeypatch.setattr(random, "randrange", lambda *span: next(draws, None) or pick(*span))
    second = processes.free_port()
    assert second != first
    assert processes.PORTS_FROM <= second < processes._ephemeral_start()
