"""Item 5: the same workload on Celery with a Redis broker, prefork and threads pools.

Redis runs from Debian's `redis-server` on a free loopback port under a temporary
directory; the Celery workers are processes like Podium's services, as many of them
(prefork: one worker with that many children; threads: that many workers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.celerylogs import problems
from bench.load import GOAL
from bench.stack import BIN
from bench.stats import rate, summary
from podium_cli.stack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
DONE = "podium_bench:done"


@dataclass(frozen=True)
class CeleryConfig:
    processes: int = (
        8  # Podium's service processes: gateway, planner, 4 workers, aggregator, recorder
    )
    threads: int = 64  # per process: 512 threads in all over the 8 processes by default
    duration_s: float = 30.0
    warmup_s: float = 5.0
    overhead_s: float = 20.0
    outstanding: int = 200


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextmanager
def redis_server() -> Iterator[Server]:
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port, workdir = free_port(), tempfile.mkdtemp(prefix="podium-bench-redis-")
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
    args += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def llm_server(latency_ms: float) -> Iterator[str]:
    port = free_port()
    args = [str(BIN / "podium-scripted-llm"), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        [*args, "--latency-ms", str(latency_ms)], stdout=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def workers(pool: str, config: CeleryConfig, broker: str, llm: str) -> Iterator[Workers]:
    """The closed loop's workers: prefork, one worker with `processes` children; threads,
    `processes` workers of `threads` threads."""
    if pool == "prefork":
        with worker_processes("prefork", 1, config.processes, broker, llm) as started:
            yield started
    else:
        with worker_processes(pool, config.processes, config.threads, broker, llm) as started:
            yield started


@dataclass(frozen=True)
class Workers:
    """Celery worker processes and the directory of their logs."""

    pids: list[int]
    logs: Path

    def log_problems(self) -> dict[str, Any]:
        """What their logs hold so far: bench.celerylogs.problems."""
        return problems(self.logs)


@contextmanager
def worker_processes(
    pool: str, processes: int, concurrency: int, broker: str, llm: str
) -> Iterator[Workers]:
    """`processes` Celery workers of the pool (prefork, threads, gevent), each with
    `concurrency` slots."""
    env = {"PODIUM_BENCH_CELERY_BROKER": broker, "PODIUM_BENCH_CELERY_LLM": llm}
    base = [str(BIN / "celery"), "-A", "bench.celery_app", "worker", "--loglevel", "WARNING"]
    base += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    base += ["--pool", pool, "--concurrency", str(concurrency)]
    commands = [[*base, "-n", f"w{i}@%h"] for i in range(processes)]
    environ = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    logs = Path(tempfile.mkdtemp(prefix=f"podium-bench-celery-{pool}-"))
    started = []
    for number, command in enumerate(commands):
        with (logs / f"worker{number}.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    command,
                    env=environ,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        yield Workers([process.pid for process in started], logs)
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Driver:
    """Submits goals to Celery and reads their outcomes from the DONE list in Redis."""

    def __init__(self, broker: str) -> None:
        from bench import celery_app

        celery_app.app.conf.update(broker_url=broker, result_backend=broker)
        self._run_goal = celery_app.run_goal
        self._redis = redis.Redis.from_url(broker)
        self._redis.delete(DONE)
        self.submitted: dict[str, float] = {}
        self.ended: dict[str, tuple[float, float]] = {}
        # Goals Celery never finished, given up on after a drain's wait.
        self.lost: set[str] = set()

    def submit(self) -> None:
        goal_id = uuid.uuid4().hex
        self.submitted[goal_id] = time.time()
        self._run_goal.apply_async((goal_id, GOAL))

    def collect(self, timeout_s: float) -> None:
        popped = self._redis.blpop([DONE], timeout=timeout_s)
        value = popped[1] if popped is not None else None
        while value is not None:
            outcome = json.loads(value)
            self.ended[outcome["goal_id"]] = (outcome["at"], outcome["llm_ms"])
            value = self._redis.lpop(DONE)  # one value: no count given

    @property
    def open(self) -> int:
        return len(self.submitted) - len(self.ended) - len(self.lost)

    def drain(self, within_s: float = 180) -> None:
        """Waits for every goal's outcome; those still without one after `within_s` are
        counted as lost (Celery's, reported with the figures) and no longer waited for."""
        deadline = time.time() + within_s
        while self.open and time.time() < deadline:
            self.collect(0.2)
        if self.open:
            missing = set(self.submitted) - set(self.ended) - self.lost
            print(
                f"celery: {len(missing)} goals without an outcome after {within_s}s",
                file=sys.stderr,
            )
            self.lost |= missing


def throughput(driver: Driver, config: CeleryConfig, slots: int, warmup_s: float) -> float:
    """Goals/s in a closed loop: `outstanding` goals in flight, or fewer when the pool has
    fewer slots (two per goal keep every slot busy without a backlog that takes minutes
    to drain at 2 s per call)."""
    outstanding = min(config.outstanding, 2 * slots)
    start = time.time()
    window = (start + warmup_s, start + warmup_s + config.duration_s)
    while time.time() < window[1]:
        while driver.open < outstanding:
            driver.submit()
        driver.collect(0.05)
    driver.drain()
    done = sum(1 for at, _ in driver.ended.values() if window[0] <= at < window[1])
    return rate(done, config.duration_s)


def overhead(driver: Driver, goals_per_s: float, duration_s: float) -> dict[str, float]:
    """End-to-end latency minus the LLM time on the critical path, at a fixed rate."""
    interval, start = 1 / max(goals_per_s, 0.1), time.time()
    first = set(driver.submitted)
    count = 0
    while time.time() - start < duration_s:
        if time.time() >= start + count * interval:
            driver.submit()
            count += 1
        driver.collect(min(interval, 0.01))
    driver.drain()
    overheads = [
        (at - driver.submitted[gid]) * 1000 - llm_ms
        for gid, (at, llm_ms) in driver.ended.items()
        if gid not in first
    ]
    return summary(overheads)


def warm_up(driver: Driver) -> None:
    """One goal end to end: the workers are up and connected."""
    driver.submit()
    driver.drain(within_s=120)
    if driver.lost:
        raise RuntimeError("the Celery workers did not finish a first goal within 120 s")


def run(config: CeleryConfig) -> dict[str, Any]:
    results: dict[str, Any] = {"processes": config.processes, "threads": config.threads}
    with redis_server() as server:
        broker = server.url
        for latency_ms in (0, 2000):
            with llm_server(latency_ms) as llm:
                for pool in ("prefork", "threads"):
                    with workers(pool, config, broker, llm) as started:
                        driver = Driver(broker)
                        warm_up(driver)
                        slots = config.processes * (config.threads if pool == "threads" else 1)
                        # At 2 s a goal takes 8 s or more: the first ones end late.
                        warmup_s = config.warmup_s if latency_ms == 0 else 25.0
                        goals_per_s = throughput(driver, config, slots, warmup_s)
                        results[f"{pool}_goals_per_s_at_{latency_ms // 1000}s"] = goals_per_s
                        if latency_ms == 0:
                            over = overhead(driver, goals_per_s / 2, config.overhead_s)
                            results[f"{pool}_overhead_ms"] = over
                        if driver.lost:
                            results[f"{pool}_lost_goals_at_{latency_ms // 1000}s"] = len(
                                driver.lost
                            )
                        log = started.log_problems()
                        results[f"{pool}_worker_log_at_{latency_ms // 1000}s"] = log
                        print(
                            f"celery {pool} at {latency_ms} ms: {goals_per_s} goals/s",
                            file=sys.stderr,
                        )
    return results
