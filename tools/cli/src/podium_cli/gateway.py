"""A small client of the gateway's HTTP API: submit a goal, read it, follow it to its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from podium_cli.progress import FINISHED, Goal, changes, new_approvals
from podium_common.errors import PodiumError, Unavailable


class GatewayError(PodiumError):
    """The gateway refused a request; the message carries its error body."""

    kind = "gateway"


class Gateway:
    def __init__(
        self, base_url: str, client: httpx.Client | None = None, api_key: SecretStr | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=10.0)
        if api_key is not None:  # a gateway that requires keys answers 401 without one
            self.client.headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"

    def ready(self) -> bool:
        try:
            return self.client.get(f"{self.base_url}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def submit(self, goal: str, options: dict[str, Any] | None = None) -> Goal:
        body: dict[str, Any] = {"goal": goal, "options": options or {}}
        response = self._send("POST", "/goals", json=body)
        if response.status_code != 202:
            raise GatewayError(f"the gateway refused the goal: {_error_text(response)}")
        accepted: Goal = response.json()
        return accepted

    def get(self, goal_id: str) -> Goal | None:
        """The goal's current view; None while the gateway does not know it (yet)."""
        response = self._send("GET", f"/goals/{goal_id}")
        if response.status_code == 404:
            return None
        if response.status_code == 503:
            raise Unavailable("the gateway cannot read goals now", goal_id=goal_id)
        if response.status_code != 200:
            raise GatewayError(f"reading goal {goal_id} failed: {_error_text(response)}")
        found: Goal = response.json()
        return found

    def decide(
        self,
        goal_id: str,
        task: str,
        decision: str,
        comment: str,
        by: str,
        digest: str | None = None,
    ) -> Goal:
        """Approves or rejects what `task` of the goal waits for (only as shown with
        `digest`, when given); the gateway's answer."""
        body = {"decision": decision, "comment": comment, "decided_by": by}
        if digest is not None:
            body["digest"] = digest
        response = self._send("POST", f"/goals/{goal_id}/approvals/{task}", json=body)
        if response.status_code != 202:
            raise GatewayError(f"the gateway refused the decision: {_error_text(response)}")
        answer: Goal = response.json()
        return answer

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.TransportError as error:
            raise Unavailable(f"the gateway at {self.base_url} does not answer: {error}") from error


def follow(
    gateway: Gateway,
    goal_id: str,
    *,
    timeout_s: float,
    on_progress: Callable[[str], None],
    on_approval: Callable[[Goal, Goal], None] | None = None,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Goal:
    """Polls the goal until it is completed or failed, reporting each change (and each
    new request for a person's decision to `on_approval`, with the goal); returns its
    last view. Transient gateway trouble (404 before the recorder caught up, 503, a dropped
    connection) is waited out; after `timeout_s` it raises."""
    deadline = clock() + timeout_s
    seen: Goal | None = None
    while True:
        try:
            now = gateway.get(goal_id)
        except Unavailable:
            now = None
        if now is not None:
            for line in changes(seen, now):
                on_progress(line)
            if on_approval is not None:
                for approval in new_approvals(seen, now):
                    on_approval(now, approval)
            seen = now
            if now.get("status") in FINISHED:
                return now
        if clock() > deadline:
            status = seen.get("status") if seen else "not yet recorded"
            raise Unavailable(
                f"goal {goal_id} did not finish within {timeout_s:.0f}s (last status: {status})"
            )
        sleep(poll_s)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    fields = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in error.get("fields", []))
    message = f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
    return f"{message} ({fields})" if fields else message
