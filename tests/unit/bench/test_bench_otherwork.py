"""The machine's other work during a scenario: told from the benchmark's own processes,
kept in the results, and said when it is noticeable."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import runner
from bench.otherwork import Mark, OtherWork, Watch, between
from bench.procstat import ProcessTree, server_pids, servers_cpu

BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


def test_other_work_is_the_busy_time_beyond_the_benchmarks_processes() -> None:
    start = Mark(
        at=10.0,
        machine=100.0,
        ours=40.0,
        others={1: ("init", 1.0), 7: ("pytest", 5.0), 8: ("mypy", 2.0), 9: ("old", 3.0)},
    )
    end = Mark(
        at=20.0,
        machine=115.0,
        ours=48.0,
        # pid 9 now names another process (its CPU-s do not continue the old one's); 11
        # started in between (seen once: not named).
        others={
            1: ("init", 1.05),
            7: ("pytest", 9.0),
            8: ("mypy", 4.5),
            9: ("new", 9.0),
            11: ("x", 5.0),
        },
    )

    other = between(start, end)

    assert other.cores == 0.7  # (15 - 8) CPU-s over 10 s
    assert other.busiest == [("pytest", 7, 0.4), ("mypy", 8, 0.25)]
    assert other.noticeable
    assert other.describe() == (
        "0.70 cores busy beside the benchmark; busiest: pytest (pid 7) 0.40, mypy (pid 8) 0.25"
    )


def test_a_quiet_machine_is_not_noticeable() -> None:
    start = Mark(at=0.0, machine=50.0, ours=20.0, others={1: ("init", 1.0)})
    end = Mark(at=60.0, machine=110.0, ours=77.0, others={1: ("init", 1.1)})

    other = between(start, end)

    assert other == OtherWork(cores=0.05, busiest=[])
    assert not other.noticeable
    assert between(start, start) == OtherWork(0.0, [])


def _busy_orphan(seconds: float) -> int:
    """A busy process outside this one's tree (its shell exits; it is left to init)."""
    code = BUSY.format(seconds=seconds)
    shell = subprocess.run(
        ["/bin/sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', code],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shell.stdout.strip())


def test_a_busy_process_beside_the_benchmark_is_named_and_its_own_child_is_not() -> None:
    watch = Watch(ProcessTree([os.getpid()]))
    child = subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=4)])
    orphan = _busy_orphan(4)
    try:
        time.sleep(0.3)  # both started
        start = watch.mark()
        time.sleep(1.5)
        other = between(start, watch.mark(), top=20)
    finally:
        child.kill()
        child.wait()
        os.kill(orphan, 9)

    # On two cores shared with other tests the orphan's share varies: it is named, with
    # some CPU, and counted in the other work; the child takes as much and is not named.
    named = {pid: cores for _, pid, cores in other.busiest}
    assert named.get(orphan, 0.0) >= 0.05, other
    assert child.pid not in named, other
    assert other.cores >= named[orphan] - 0.02, other


class Scripted(Watch):
    def __init__(self, marks: list[Mark]) -> None:
        self._marks = iter(marks)

    def mark(self) -> Mark:
        return next(self._marks)


@pytest.mark.parametrize(("busy", "said"), [(10.0, True), (1.0, False)])
def test_the_runner_keeps_each_scenarios_other_work_and_says_when_it_is_noticeable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], busy: float, said: bool
) -> None:
    async def scenario(args: argparse.Namespace, results: dict[str, Any]) -> None:
        results["pipeline"] = {"goals_per_s": 70.0}

    marks = [
        Mark(at=0.0, machine=0.0, ours=0.0, others={7: ("pytest", 0.0)}),
        Mark(at=20.0, machine=20.0 + busy, ours=20.0, others={7: ("pytest", busy)}),
    ]
    args = argparse.Namespace(out=tmp_path / "run.json", scenarios=["pipeline"])
    results: dict[str, Any] = {}

    asyncio.run(runner.run({"pipeline": scenario}, args, results, watch=Scripted(marks)))

    written = json.loads(args.out.read_text())
    assert written["other_work_cores"] == {"pipeline": busy / 20}
    warning = "scenario pipeline: the machine was busy with other work"
    if said:
        assert written["other_work_busiest"] == {"pipeline": [["pytest", 7, 0.5]]}
        assert warning in capsys.readouterr().err
    else:
        assert "other_work_busiest" not in written
        assert warning not in capsys.readouterr().err


def test_the_servers_are_found_by_their_ports_and_their_cpu_read_by_name() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening, socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: no server there
        broker = f"127.0.0.1:{listening.getsockname()[1]}"
        dsn = f"postgresql://podium@127.0.0.1:{unused.getsockname()[1]}/postgres"
        assert server_pids(broker, dsn) == {"kafka": os.getpid()}
        spent = servers_cpu(broker, dsn)
        first = spent()
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        second = spent()
    assert set(first) == set(second) == {"kafka"}
    assert second["kafka"] - first["kafka"] >= 0.15  # /proc counts in ticks of 10 ms
