"""Progress lines from successive views of a goal."""

from __future__ import annotations

from podium_cli.progress import changes, describe_plan, failure, summary
from podium_common.events import local_task_id

GOAL = "0b5d2a5e-7a8c-4c47-9d43-1f2e3d4c5b6a"


def task(local: str, status: str, **extra):
    return {
        "task_id": f"{GOAL}.1.{local}",
        "type": extra.pop("type", "researcher"),
        "status": status,
        "attempts": extra.pop("attempts", 1),
        "final": extra.pop("final", False),
        **extra,
    }


def view(status: str, tasks=(), plan=None):
    return {"goal_id": GOAL, "status": status, "plan": plan, "tasks": list(tasks)}


PLAN = {
    "tasks": [
        {"task_id": f"{GOAL}.1.t1", "type": "researcher", "depends_on": []},
        {"task_id": f"{GOAL}.1.t2", "type": "specialist", "depends_on": [f"{GOAL}.1.t1"]},
    ]
}


def test_local_id_strips_goal_run_and_plan_digest():
    assert local_task_id(f"{GOAL}.1.0123abcd.t3") == "t3"
    assert local_task_id(f"{GOAL}.12.0123abcd.final") == "final"
    assert local_task_id(f"{GOAL}.1.0123abcd.step.2") == "step.2"
    assert local_task_id(f"{GOAL}.1.t3") == "t3"  # before plans had a digest
    assert local_task_id(f"{GOAL}.1.a.b") == "a.b"
    assert local_task_id("odd") == "odd"


def test_first_view_reports_its_status():
    assert changes(None, view("queued")) == ["status: queued"]


def test_plan_is_reported_once_with_dependencies():
    before = view("planning")
    now = view("running", plan=PLAN)
    lines = changes(before, now)
    assert lines == ["status: running", "planned 2 tasks: t1 researcher; t2 specialist after t1"]
    assert changes(now, now) == []
    assert describe_plan({"tasks": []}) == "planned 0 tasks: "


def test_task_transitions_become_lines():
    started = view("running", [task("t1", "dispatched")], PLAN)
    done = view(
        "running",
        [task("t1", "succeeded", latency_ms=1500, tokens={"prompt": 10, "completion": 5})],
        PLAN,
    )
    assert changes(view("running", plan=PLAN), started) == ["task t1 (researcher) started"]
    assert changes(started, done) == ["task t1 (researcher) done (1.5s, 15 tokens)"]
    assert changes(done, done) == []


def test_retries_failures_and_the_final_synthesis():
    retried = view("running", [task("t2", "dispatched", attempts=2, type="specialist")])
    failed = view(
        "failed",
        [
            task(
                "t2",
                "failed",
                attempts=2,
                type="specialist",
                error={"kind": "llm", "message": "no"},
            )
        ],
    )
    final = view("completed", [task("final", "succeeded", type="synthesizer", final=True)])
    assert changes(None, retried)[1] == "task t2 (specialist) started, attempt 2"
    assert changes(retried, failed) == [
        "task t2 (specialist) failed, attempt 2: llm: no",
        "status: failed",
    ]
    assert changes(None, final) == ["final synthesis (synthesizer) done", "status: completed"]


def test_failure_and_summary():
    goal = {
        "status": "failed",
        "reason": {"kind": "plan_rejected", "message": "a cycle"},
        "totals": {"tasks": 3, "succeeded": 2, "prompt_tokens": 30, "completion_tokens": 12,
                   "wall_ms": 2500},
    }  # fmt: skip
    assert failure(goal) == "plan_rejected: a cycle"
    assert failure({"reason": None}) == "no reason given"
    assert summary(goal) == "failed: 2/3 tasks succeeded, 42 tokens, 2.5s"
