"""The gateway client against a fake gateway (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from podium_cli.gateway import Gateway, GatewayError, follow
from podium_common.errors import Unavailable

GOAL = "0b5d2a5e-7a8c-4c47-9d43-1f2e3d4c5b6a"


def gateway(handler: Callable[[httpx.Request], httpx.Response]) -> Gateway:
    return Gateway("http://gw", httpx.Client(transport=httpx.MockTransport(handler)))


def test_submit_posts_goal_and_options():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(202, json={"goal_id": GOAL, "run": 1, "status": "queued"})

    accepted = gateway(handler).submit("write a haiku", {"max_tasks": 3})
    assert accepted["goal_id"] == GOAL
    assert seen == [("POST", "/goals", {"goal": "write a haiku", "options": {"max_tasks": 3}})]


def test_a_refused_goal_names_the_field():
    body = {
        "error": {
            "code": "invalid_body",
            "message": "bad options",
            "fields": [{"field": "options.max_tasks", "message": "must be >= 1"}],
        }
    }
    client = gateway(lambda _: httpx.Response(422, json=body))
    with pytest.raises(GatewayError, match=r"422 invalid_body.*options\.max_tasks: must be >= 1"):
        client.submit("x", {"max_tasks": 0})


def test_get_unknown_is_none_and_503_is_unavailable():
    assert gateway(lambda _: httpx.Response(404, json={})).get(GOAL) is None
    with pytest.raises(Unavailable):
        gateway(lambda _: httpx.Response(503, json={})).get(GOAL)


def test_unreachable_gateway_is_unavailable_and_not_ready():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = gateway(refuse)
    assert not client.ready()
    with pytest.raises(Unavailable, match="does not answer"):
        client.get(GOAL)


def replies(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue: Iterator[httpx.Response] = iter(responses)
    return lambda _: next(queue)


def goal(status: str, **extra) -> httpx.Response:
    return httpx.Response(200, json={"goal_id": GOAL, "status": status, "tasks": [], **extra})


def test_follow_waits_out_404_and_503_then_returns_the_end():
    lines: list[str] = []
    client = gateway(
        replies(
            httpx.Response(404, json={}),
            httpx.Response(503, json={}),
            goal("planning"),
            goal("running"),
            goal("completed", output="the answer"),
        )
    )
    final = follow(client, GOAL, timeout_s=60, on_progress=lines.append, sleep=lambda _: None)
    assert final["output"] == "the answer"
    assert lines == ["status: planning", "status: running", "status: completed"]


def test_follow_gives_up_after_its_timeout():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    client = gateway(lambda _: goal("running"))
    with pytest.raises(Unavailable, match=r"did not finish within 5s \(last status: running\)"):
        follow(client, GOAL, timeout_s=5, on_progress=lambda _: None, clock=lambda: now[0],
               sleep=sleep)  # fmt: skip
    assert now[0] == pytest.approx(5.5)


def test_a_configured_api_key_is_sent_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(202, json={"goal_id": "g1", "status": "queued"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    Gateway("http://gw", client, api_key=SecretStr("pk_test.secret")).submit("owls")
    Gateway("http://gw", httpx.Client(transport=httpx.MockTransport(handler))).submit("owls")

    assert seen == ["Bearer pk_test.secret", None]
