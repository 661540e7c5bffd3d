"""`podium run` asking at a terminal about tasks that wait for approval, against a fake
gateway (httpx.MockTransport); `--approve TYPE=STAGE`; and what a stopped run says."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from podium_cli.asking import SHOWN_LIMIT, Asker, shown
from podium_cli.commands.goals import approval, following, options, register
from podium_cli.gateway import Gateway, follow

GOAL = "0b5d2a5e-7a8c-4c47-9d43-1f2e3d4c5b6a"
TASK = f"{GOAL}.1.0a1b2c3d.t3"
DIGEST = "d" * 64


def pending(
    round_: int = 1, text: str = "Specialist result for task: name a river"
) -> dict[str, Any]:
    return {
        "task_id": TASK,
        "type": "specialist",
        "stage": "after",
        "round": round_,
        "shown": text,
        "digest": DIGEST,
        "decision": None,
    }


class FakeGateway:
    """Answers each decision with `status`; records what it was sent."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.decisions: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.decisions.append((request.url.path, json.loads(request.content)))
        if self.status != 202:
            error = {"code": "conflict", "message": "what was shown changed since"}
            return httpx.Response(self.status, json={"error": error})
        return httpx.Response(202, json={"status": "decided"})

    def client(self) -> Gateway:
        return Gateway("http://gw", httpx.Client(transport=httpx.MockTransport(self.handle)))


def asker(fake: FakeGateway, *answers: str) -> tuple[Asker, list[str], list[str]]:
    """An asker reading `answers` in turn (then input ends); what it wrote and asked."""
    written: list[str] = []
    asked: list[str] = []
    queue: Iterator[str] = iter(answers)

    def read(question: str) -> str:
        asked.append(question)
        try:
            return next(queue)
        except StopIteration:
            raise EOFError from None

    return Asker(fake.client(), write=written.append, read=read, by="alice"), written, asked


def test_yes_approves_what_was_shown_bound_to_its_digest() -> None:
    fake = FakeGateway()
    ask, written, _ = asker(fake, "y\n")
    ask({"goal_id": GOAL}, pending())
    assert fake.decisions == [
        (
            f"/goals/{GOAL}/approvals/{TASK}",
            {"decision": "approve", "comment": "", "decided_by": "alice", "digest": DIGEST},
        )
    ]
    assert written[0] == "  t3 (specialist) waits for your approval of its output:"
    assert "    | Specialist result for task: name a river" in written[1]
    assert written[-1] == "  t3 (specialist) approved"


def test_no_rejects_with_the_reason_given() -> None:
    fake = FakeGateway()
    ask, written, asked = asker(fake, "N", "cite a source\n")
    ask({"goal_id": GOAL}, pending())
    (_, body), = fake.decisions  # fmt: skip
    assert (body["decision"], body["comment"]) == ("reject", "cite a source")
    assert "feedback" in asked[1]
    assert written[-1] == "  t3 (specialist) rejected"


def test_enter_leaves_the_decision_to_elsewhere_and_nonsense_is_asked_again() -> None:
    fake = FakeGateway()
    ask, written, asked = asker(fake, "maybe", "")
    ask({"goal_id": GOAL}, pending())
    assert fake.decisions == []
    assert len(asked) == 2
    assert "'maybe' is not an answer: y, n, or Enter" in written[-1]


def test_once_input_ends_nothing_more_is_asked() -> None:
    fake = FakeGateway()
    ask, written, asked = asker(fake)
    ask({"goal_id": GOAL}, pending())
    ask({"goal_id": GOAL}, pending(round_=2))
    assert fake.decisions == []
    assert len(asked) == 1  # the second request is not even shown
    assert sum("waits for your approval" in line for line in written) == 1


def test_a_refused_decision_is_reported_and_following_goes_on() -> None:
    fake = FakeGateway(status=409)
    ask, written, _ = asker(fake, "y")
    ask({"goal_id": GOAL}, pending())
    assert len(fake.decisions) == 1
    assert written[-1].startswith("  not recorded: the gateway refused the decision: HTTP 409")


def test_a_long_text_is_cut_with_a_note() -> None:
    text = shown("x" * (SHOWN_LIMIT + 25))
    assert text.count("x") == SHOWN_LIMIT
    assert text.endswith("… 25 more characters: `podium get` shows them all")
    assert shown("") == "    | (nothing shown)"


def test_follow_asks_once_about_each_new_request() -> None:
    views = iter(
        [
            {"goal_id": GOAL, "status": "running", "tasks": [], "approvals": []},
            {"goal_id": GOAL, "status": "waiting_approval", "tasks": [], "approvals": [pending()]},
            {"goal_id": GOAL, "status": "waiting_approval", "tasks": [], "approvals": [pending()]},
            {"goal_id": GOAL, "status": "completed", "tasks": [], "approvals": [pending()]},
        ]
    )
    client = Gateway(
        "http://gw",
        httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, json=next(views)))
        ),
    )
    met: list[tuple[str, int]] = []
    follow(
        client,
        GOAL,
        timeout_s=60,
        on_progress=lambda _: None,
        on_approval=lambda goal, asked: met.append((goal["status"], asked["round"])),
        sleep=lambda _: None,
    )
    assert met == [("waiting_approval", 1)]


def test_approve_takes_a_task_type_and_a_stage() -> None:
    assert approval("specialist=after") == ("specialist", "after")
    with pytest.raises(argparse.ArgumentTypeError, match="'critic' is not a task type"):
        approval("critic=after")
    with pytest.raises(argparse.ArgumentTypeError, match="give the stage, validator=before"):
        approval("validator")
    chosen = parsed(
        "--deadline", "30", "--approve", "specialist=after", "--approve", "researcher=before"
    )
    assert options(chosen) == {
        "deadline_s": 30,
        "approvals": {"specialist": "after", "researcher": "before"},
    }
    assert options(parsed()) == {}


def parsed(*flags: str) -> argparse.Namespace:
    """`podium submit`'s arguments as its parser reads them."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["submit", "a goal", *flags])


def test_plan_approvals_is_the_goals_say_or_left_to_the_stack() -> None:
    assert options(parsed("--no-plan-approvals")) == {"plan_approvals": False}
    assert options(parsed("--plan-approvals")) == {"plan_approvals": True}
    assert "plan_approvals" not in options(parsed())


def test_a_stopped_run_says_that_the_goal_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    client = Gateway("http://gw", httpx.Client(transport=httpx.MockTransport(interrupted)))
    with pytest.raises(KeyboardInterrupt):
        following(client, GOAL, timeout_s=60, ask=False)
    said = capsys.readouterr().err
    assert f"stopped following goal {GOAL}, which goes on" in said
    assert f"`podium watch {GOAL}`" in said
    assert f"`podium cancel {GOAL}`" in said
