"""Follows a goal over the gateway's progress stream (`GET /goals/{id}/events`, SSE), a
line per event, reconnecting from the last event id when the connection drops; and asks
the gateway to cancel a goal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from podium_cli.gateway import Gateway, GatewayError, _error_text
from podium_common.errors import Unavailable
from podium_common.events import local_task_id

TERMINAL = frozenset({"GoalCompleted", "GoalFailed"})


def describe(event: str, data: dict[str, Any]) -> str:
    """One line for a person about one event of the stream."""
    task = f"{local_task_id(data['task_id'])} ({data.get('type')})" if "task_id" in data else ""
    if data.get("final"):
        task = "final synthesis"
    if event == "GoalSubmitted":
        return f"submitted (run {data.get('run')}): {data.get('goal')}"
    if event == "PlanningStarted":
        return f"planning, ask {data.get('attempt')} to {data.get('model')}"
    if event == "PlanCreated":
        tasks = data.get("tasks") or []
        return f"planned {len(tasks)} tasks: " + "; ".join(
            local_task_id(t["task_id"])
            + f" {t.get('type')}"
            + "".join(f" after {local_task_id(d)}" for d in t.get("depends_on") or [])
            for t in tasks
        )
    if event == "PlanRejected":
        return f"plan rejected: {data.get('reason')}"
    if event == "TaskAssigned":
        return f"{task} dispatched, attempt {data.get('attempt')}"
    if event == "TaskResult":
        error = data.get("error") or {}
        said = "done" if data.get("status") == "succeeded" else f"failed: {error.get('kind')}"
        return f"{task} {said} (attempt {data.get('attempt')}, {data.get('latency_ms')} ms)"
    if event == "GoalCancelled":
        return f"cancel asked by {data.get('requested_by')}"
    if event == "GoalCompleted":
        return "completed"
    if event == "GoalFailed":
        return f"failed: {data.get('kind')}: {data.get('reason')}"
    return event


def watch(
    gateway: Gateway,
    goal_id: str,
    *,
    on_line: Callable[[str], None],
    timeout_s: float,
    reconnect_s: float = 1.0,
) -> str:
    """Prints the goal's events until its outcome; returns the outcome's event type."""
    deadline = time.monotonic() + timeout_s
    last_id = ""
    url = f"{gateway.base_url}/goals/{goal_id}/events"
    while time.monotonic() < deadline:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with connect_sse(gateway.client, "GET", url, headers=headers) as source:
                if source.response.status_code != 200:
                    source.response.read()
                    raise GatewayError(
                        f"following goal {goal_id} failed: {_error_text(source.response)}"
                    )
                for sse in source.iter_sse():
                    last_id = sse.id or last_id
                    if _shown(sse, on_line) in TERMINAL:
                        return sse.event
        except httpx.TransportError:
            pass  # dropped or not up: reconnect from the last event seen
        time.sleep(reconnect_s)
    raise Unavailable(f"goal {goal_id} did not finish within {timeout_s:.0f}s")


def _shown(sse: ServerSentEvent, on_line: Callable[[str], None]) -> str:
    try:
        data = json.loads(sse.data) if sse.data else {}
    except json.JSONDecodeError:
        data = {}
    on_line(describe(sse.event, data if isinstance(data, dict) else {}))
    return sse.event


def cancel(gateway: Gateway, goal_id: str, reason: str = "") -> dict[str, Any]:
    """Asks the gateway to cancel the goal's latest run; its 202 body."""
    params = {"reason": reason} if reason else {}
    try:
        response = gateway.client.delete(f"{gateway.base_url}/goals/{goal_id}", params=params)
    except httpx.TransportError as error:
        raise Unavailable(f"the gateway at {gateway.base_url} does not answer: {error}") from error
    if response.status_code != 202:
        raise GatewayError(f"cancelling goal {goal_id} failed: {_error_text(response)}")
    body: dict[str, Any] = response.json()
    return body
