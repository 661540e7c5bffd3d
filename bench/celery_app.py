"""The Celery baseline: the same goal flow as Celery tasks over Redis, the same scripted LLM.

A goal is one `run_goal` task: it asks the planner, then replaces itself with a chord
(the independent tasks as a group, fanning in to the dependent ones, in order), then the
final synthesis. Each task returns its output and the LLM time on its path, so the driver
can subtract the LLM time from the end-to-end latency. The prompts are Podium's own.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import urllib3
from celery import Celery, chain, chord, group

from bench.prompts import PLANNER, SYSTEMS, final_task, planner_prompt, user_prompt

LLM_URL = os.environ.get("PODIUM_BENCH_CELERY_LLM", "http://127.0.0.1:8099/v1")
DONE = "podium_bench:done"
BROKER = os.environ.get("PODIUM_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/0")
# A bound, not connections kept open: four times the largest concurrency the capacity
# scenario steps a gevent worker to (1,024), so that no greenlet waits for one.
MAX_CONNECTIONS = 4096

app = Celery("podium_bench", broker=BROKER, backend=BROKER)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    # One result backend (one Redis connection pool) for the process. Without it Celery
    # keeps a backend per thread, which under gevent is per greenlet: a new Redis client
    # for every task, never released (celery#6819, #7960), whose growing heap made the
    # gevent workers' full collections pause them 27 ms and then 258 ms five minutes on.
    result_backend_thread_safe=True,
    # kombu's Redis transport pools 10 connections a channel: a gevent worker of 1,024
    # greenlets acknowledging at once ran out of them ("Couldn't ack ... Too many
    # connections"), its consumer reconnected, and the tasks it held were not delivered
    # again within the run: goals lost (docs/benchmarks-history.md).
    broker_transport_options={"max_connections": MAX_CONNECTIONS},
)
# urllib3's pool, not httpx.Client (what `openai`'s synchronous SDK is built on): under
# gevent httpx.Client spent 4.2-5.1 ms of CPU a request against urllib3's 0.26-0.27
# (docs/benchmarks-history.md), about half a core at Celery's capacity, and it sent requests on
# keep-alive connections the server was closing more often (urllib3 checks a connection
# before reusing it, which narrows that race but does not close it).
_pool: urllib3.PoolManager | None = None
# A request that lost its connection is sent again, twice at most, as `openai`'s SDK does
# by default (a POST too: urllib3 retries none by default). Without it a connection the
# server closed as it was reused failed a task, and with it the goal's chord (1 goal in a
# capacity run, docs/benchmarks-history.md); Podium's workers ask again on such errors.
RETRIES = urllib3.Retry(total=2, allowed_methods=None, backoff_factor=0.1)


def ask(system: str, user: str, *, json_reply: bool = False) -> tuple[str, float]:
    """One chat completion from the scripted LLM: its content and how long it took (ms)."""
    global _pool
    if _pool is None:  # one per process, created after the fork
        _pool = urllib3.PoolManager(
            maxsize=1024, timeout=urllib3.Timeout(total=120), retries=RETRIES
        )
    body: dict[str, Any] = {
        "model": "scripted",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    if json_reply:
        body["response_format"] = {"type": "json_object"}
    started = time.perf_counter()
    response = _pool.request("POST", f"{LLM_URL}/chat/completions", json=body)
    if response.status >= 400:
        raise RuntimeError(f"the scripted LLM answered HTTP {response.status}: {response.data!r}")
    content: str = response.json()["choices"][0]["message"]["content"]
    return content, (time.perf_counter() - started) * 1000


@app.task  # type: ignore[untyped-decorator]
def work(inputs: Any, goal: str, task: dict[str, Any]) -> dict[str, Any]:
    """One task of the plan; `inputs` is what its dependencies returned (a list, or one)."""
    given = inputs if isinstance(inputs, list) else [inputs] if inputs else []
    output, llm_ms = ask(SYSTEMS[task["type"]], user_prompt(goal, task, given))
    before = max((i["llm_ms"] for i in given), default=0.0)
    return {"id": task["id"], "type": task["type"], "output": output, "llm_ms": before + llm_ms}


@app.task(bind=True)  # type: ignore[untyped-decorator]
def run_goal(self: Any, goal_id: str, goal: str, max_tasks: int = 8) -> Any:
    """Plans the goal, then becomes the flow of its tasks and the final synthesis."""
    reply, planning_ms = ask(PLANNER, planner_prompt(goal, max_tasks), json_reply=True)
    tasks = json.loads(reply)["tasks"]
    first = [t for t in tasks if not t["depends_on"]]
    rest = [t for t in tasks if t["depends_on"]]
    final = final_task(goal)
    fan_out = group(work.s(None, goal, t) for t in first)
    steps = [work.s(goal, t) for t in rest] + [work.s(goal, final), done.s(goal_id, planning_ms)]
    flow = chord(fan_out, chain(*steps)) if steps else fan_out
    raise self.replace(flow)


@app.task  # type: ignore[untyped-decorator]
def done(last: dict[str, Any], goal_id: str, planning_ms: float) -> None:
    """The goal's outcome, pushed where the driver waits for it (DONE, a Redis list)."""
    outcome = {"goal_id": goal_id, "at": time.time(), "llm_ms": planning_ms + last["llm_ms"]}
    app.backend.client.rpush(DONE, json.dumps(outcome))
