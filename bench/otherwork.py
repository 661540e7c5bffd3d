"""The machine's other work: what its cores did beside the benchmark during a scenario.

The benchmark's own processes are this one and its descendants (the services, the scripted
LLM, Celery's workers and their Redis, py-spy), and the broker and PostgreSQL, each found
by the port it listens on, with theirs. The cores' busy time beyond theirs is other work
(time the hypervisor stole included), and a figure measured beside it measures that work
too: a pipeline scenario run beside a test suite measured an overhead p99 2.6 times the
quiet run's. The runner keeps it for every scenario (`other_work_cores`) and says so when
it passes `NOTICEABLE_CORES`, naming the busiest other processes (`other_work_busiest`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from bench.procstat import ProcessTree, machine_busy_seconds, server_pids

# A twentieth of a 2-core machine: more than its kernel threads and idle daemons take.
NOTICEABLE_CORES = 0.1
# A process named among the busiest took at least this many cores on average.
NAMED_CORES = 0.01


@dataclass(frozen=True)
class Mark:
    at: float
    machine: float  # busy CPU-seconds of all cores since boot
    ours: float  # CPU-seconds of the benchmark's processes
    others: dict[int, tuple[str, float]]  # every other process: pid → (name, CPU-seconds)


@dataclass(frozen=True)
class OtherWork:
    cores: float  # busy beside the benchmark's processes, on average
    busiest: list[tuple[str, int, float]]  # (name, pid, cores on average), busiest first

    @property
    def noticeable(self) -> bool:
        return self.cores > NOTICEABLE_CORES

    def describe(self) -> str:
        said = f"{self.cores:.2f} cores busy beside the benchmark"
        if self.busiest:
            named = ", ".join(
                f"{name} (pid {pid}) {cores:.2f}" for name, pid, cores in self.busiest
            )
            said += f"; busiest: {named}"
        return said


def between(start: Mark, end: Mark, top: int = 3) -> OtherWork:
    """The other work from one mark to the next: cores busy on average beyond the
    benchmark's, and the `top` other processes seen at both marks by the cores they took."""
    elapsed = end.at - start.at
    if elapsed <= 0:
        return OtherWork(0.0, [])
    beside = (end.machine - start.machine) - (end.ours - start.ours)
    took = [
        (name, pid, (cpu - start.others[pid][1]) / elapsed)
        for pid, (name, cpu) in end.others.items()
        if pid in start.others and start.others[pid][0] == name
    ]
    took = sorted((one for one in took if one[2] >= NAMED_CORES), key=lambda one: -one[2])
    return OtherWork(
        round(max(0.0, beside / elapsed), 2),
        [(name, pid, round(cores, 2)) for name, pid, cores in took[:top]],
    )


class Watch:
    """Marks the machine's busy time, the benchmark's CPU time and every other process's."""

    def __init__(
        self,
        ours: ProcessTree,
        clock: Callable[[], float] = time.monotonic,
        machine: Callable[[], float] = machine_busy_seconds,
    ) -> None:
        self._ours, self._clock, self._machine = ours, clock, machine

    @classmethod
    def of_benchmark(cls, bootstrap: str, dsn: str) -> Watch:
        """This process, and the broker at `bootstrap` and the PostgreSQL of `dsn` when they
        run here."""
        return cls(ProcessTree([os.getpid(), *server_pids(bootstrap, dsn).values()]))

    def mark(self) -> Mark:
        ours = self._ours.pids()
        others: dict[int, tuple[str, float]] = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if process.pid not in ours and times is not None:
                others[process.pid] = (process.info["name"] or "?", times.user + times.system)
        return Mark(self._clock(), self._machine(), self._ours(), others)
