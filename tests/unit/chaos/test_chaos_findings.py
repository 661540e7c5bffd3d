"""The chaos driver's judgement, without a stack: its fault schedule over every replica, lost
and doubled goals, redeliveries, repeated LLM calls, results counted twice, and the summary
line."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Any

from chaos.__main__ import REPLICAS, parse, summary, verdict
from chaos.check import Findings, counted_twice, duplicate_calls, judge_outcomes, redelivered
from chaos.faults import BROKER, POSTGRES, FaultPlan, Tally, steps
from chaos.stack import HEALTH_BLOCK, bindable, first_ephemeral_port, free_block
from chaos.watch import pid_of
from podium_cli.settings import CliSettings
from podium_cli.stack.services import processes_of
from podium_common.events import (
    Event,
    GoalCompleted,
    GoalFailed,
    GoalTotals,
    PlanCreated,
    PlanningStarted,
    TaskAssigned,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Trace,
    derived_id,
    utcnow,
)
from podium_common.topics import TaskType

USAGE = TokenUsage(prompt_tokens=10, completion_tokens=5)
INSTANCES = [process.instance for process in processes_of(CliSettings(), REPLICAS)]


def common(goal_id: uuid.UUID, event_id: uuid.UUID) -> dict[str, Any]:
    return {"event_id": event_id, "goal_id": goal_id, "occurred_at": utcnow(), "trace": Trace.new()}


def totals(usage: TokenUsage) -> GoalTotals:
    return GoalTotals(tasks=2, succeeded=2, failed=0, usage=usage, wall_ms=1)


def completed(goal_id: uuid.UUID, usage: TokenUsage = USAGE) -> GoalCompleted:
    event_id = derived_id("outcome", goal_id, 1)
    return GoalCompleted(**common(goal_id, event_id), output="Answer: x", totals=totals(usage))


def failed(goal_id: uuid.UUID, reason: str) -> GoalFailed:
    event_id = derived_id("outcome", goal_id, 1)
    return GoalFailed(**common(goal_id, event_id), kind="llm", reason=reason, totals=totals(USAGE))


def result(goal_id: uuid.UUID, local: str, attempt: int = 1, worker: str = "w") -> TaskResult:
    task_id = f"{goal_id}.1.{local}"
    return TaskResult(
        **common(goal_id, derived_id("result", task_id, attempt)),
        task_id=task_id,
        type=TaskType.RESEARCHER,
        status=TaskStatus.SUCCEEDED,
        output="done",
        model="m",
        usage=USAGE,
        latency_ms=1,
        worker_id=worker,
        attempt=attempt,
    )


def task(goal_id: uuid.UUID, local: str, attempt: int = 1) -> TaskAssigned:
    task_id = f"{goal_id}.1.{local}"
    return TaskAssigned(
        **common(goal_id, derived_id("task", task_id, attempt)),
        task_id=task_id,
        type=TaskType.RESEARCHER,
        description="d",
        goal="g",
        attempt=attempt,
        deadline=utcnow(),
    )


def plan(goal_id: uuid.UUID) -> PlanCreated:
    return PlanCreated(
        **common(goal_id, derived_id("plan", goal_id, 1)),
        goal="g",
        options={},
        deadline=utcnow(),
        tasks=[],
        model="m",
        usage=USAGE,
        attempts=1,
    )


def planning(goal_id: uuid.UUID) -> PlanningStarted:
    return PlanningStarted(
        **common(goal_id, derived_id("planning", goal_id, 1, 1)), attempt=1, model="m"
    )


def test_the_run_has_two_replicas_of_each_worker_type_and_of_the_aggregator():
    assert sorted(name for name in INSTANCES if name.endswith(".2")) == [
        "aggregator.2",
        "worker-researcher.2",
        "worker-specialist.2",
        "worker-synthesizer.2",
        "worker-validator.2",
    ]
    assert len(INSTANCES) == 13  # with the recorder, the planner and the gateway


def test_the_schedule_kills_every_replica_each_round_and_restarts_the_infra_once():
    plan = FaultPlan(rounds=3, interval_s=1, broker_down_s=3, pg_outage_s=30)
    order = steps(plan, random.Random(1), INSTANCES)
    assert Counter(order) == Counter({**dict.fromkeys(INSTANCES, 3), BROKER: 1, POSTGRES: 1})
    assert order.index(BROKER) < order.index(POSTGRES)


def test_a_result_from_a_second_process_is_a_redelivery_and_a_second_copy_is_not():
    goal_id = uuid.uuid4()
    results = [
        result(goal_id, "taken-over", worker="w@h:1"),
        result(goal_id, "taken-over", worker="w@h:2"),  # the task redelivered to pid 2
        result(goal_id, "dispatched-twice", worker="w@h:1"),
        result(goal_id, "dispatched-twice", worker="w@h:2"),  # its second copy, elsewhere
        result(goal_id, "published-twice", worker="w@h:1"),
        result(goal_id, "published-twice", worker="w@h:1"),  # one process, no redelivery
        result(goal_id, "taken-over-twice", worker="w@h:1"),
        result(goal_id, "taken-over-twice", worker="w@h:2"),
        result(goal_id, "taken-over-twice", worker="w@h:3"),
    ]
    dispatched = [task(goal_id, local) for local in ("taken-over", "published-twice")]
    dispatched += [task(goal_id, "dispatched-twice")] * 2 + [task(goal_id, "taken-over-twice")]
    assert redelivered(results, dispatched) == 3


def test_the_pid_in_a_worker_id_is_the_process_to_kill():
    assert pid_of("worker-researcher@host-1:4242") == 4242
    assert pid_of("w") is None


def test_a_goal_without_an_outcome_is_lost_and_two_outcomes_are_doubled():
    done, lost, doubled = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ended: dict[uuid.UUID, list[Event]] = {
        done: [completed(done)],
        doubled: [completed(doubled), failed(doubled, "late")],
    }
    rows = {g: {"status": "completed"} for g in (done, doubled)} | {lost: {"status": "running"}}
    found = Findings(goals=3)
    judge_outcomes(found, [done, lost, doubled], ended, rows, Counter({done: 1, doubled: 2}))
    assert (found.completed, found.lost, found.duplicate_outputs) == (2, 1, 2)
    assert found.republished_outputs == 0
    assert [str(lost) in line for line in found.violations] == [True, False]
    assert str(doubled) in found.violations[1]


def test_a_copy_of_one_outcome_published_again_is_counted_apart_from_a_second_outcome():
    copied, answered_twice = uuid.uuid4(), uuid.uuid4()
    # Published again after a crash: the same id and answer, its own time and wall time.
    again = completed(copied).model_copy(
        update={"totals": totals(USAGE).model_copy(update={"wall_ms": 9})}
    )
    other = completed(answered_twice).model_copy(update={"output": "Answer: y"})
    ended = {copied: [completed(copied), again], answered_twice: [completed(answered_twice), other]}
    rows = {g: {"status": "completed"} for g in (copied, answered_twice)}
    found = Findings(goals=2)
    recorded = Counter({copied: 1, answered_twice: 1})
    judge_outcomes(found, [copied, answered_twice], ended, rows, recorded)
    assert (found.completed, found.duplicate_outputs, found.republished_outputs) == (2, 1, 1)
    assert len(found.violations) == 1
    assert str(answered_twice) in found.violations[0]


def test_a_failed_goal_needs_a_reason_and_the_same_status_in_postgres():
    quiet, disagreeing = uuid.uuid4(), uuid.uuid4()
    ended = {quiet: [failed(quiet, "")], disagreeing: [failed(disagreeing, "LLM refused")]}
    rows = {quiet: {"status": "failed"}, disagreeing: {"status": "completed"}}
    found = Findings(goals=2)
    judge_outcomes(found, [quiet, disagreeing], ended, rows, Counter({quiet: 1, disagreeing: 1}))
    assert found.failed == 2
    assert any("without a reason" in line for line in found.violations)
    assert any("completed in PG" in line for line in found.violations)


def test_llm_calls_beyond_one_per_attempt_and_ask_are_duplicates():
    goal_id = uuid.uuid4()
    results = [result(goal_id, "t1"), result(goal_id, "t1"), result(goal_id, "t2")]
    stats = {
        "by_role_outcome": {
            "researcher": {"ok": 3, "429": 4},  # t1 answered twice (a redelivery), t2 once
            "planner": {"ok": 1},
        }
    }
    assert duplicate_calls(stats, results, [planning(goal_id)]) == 1


def test_totals_that_count_a_result_twice_are_reported():
    right, wrong = uuid.uuid4(), uuid.uuid4()
    results = [result(g, local) for g in (right, wrong) for local in ("t1", "t2")]
    results.append(result(wrong, "t1"))  # a redelivered duplicate: counted once
    three = USAGE + USAGE + USAGE
    outputs = [completed(right, three), completed(wrong, three + USAGE)]
    reported = counted_twice(outputs, results, [plan(right), plan(wrong)])
    assert len(reported) == 1
    assert str(wrong) in reported[0]


def test_a_goal_planned_twice_counts_the_plan_its_outcome_used():
    goal_id = uuid.uuid4()
    results = [result(goal_id, "t1")]
    first = plan(goal_id)
    again = first.model_copy(update={"usage": USAGE + USAGE})  # asked again after a crash
    outputs = [completed(goal_id, USAGE + USAGE)]  # the first plan's usage and one result
    assert counted_twice(outputs, results, [first, again]) == []
    assert len(counted_twice(outputs, results, [again, first])) == 1


def test_the_summary_is_one_line_in_the_issue_s_form():
    found = Findings(goals=5, completed=4, failed=1, redelivered_tasks=2, duplicate_llm_calls=3)
    tally = Tally(kills=Counter({"planner": 2, "gateway": 1}), broker_restarts=1, pg_outages=1)
    assert summary(found, tally) == (
        "chaos: goals=5 completed=4 failed=1 lost=0 duplicate_outputs=0 kills=3 "
        "broker_restarts=1 pg_outages=1 redelivered_tasks=2 duplicate_llm_calls=3"
    )


def test_the_quick_run_is_bounded_well_inside_the_ci_test_s_limit():
    quick, full = parse(["--quick"]), parse([])
    assert (quick.goals, quick.deadline, quick.budget) == (40, 150, 420.0)
    assert (full.goals, full.deadline, full.rounds, full.pg_outage) == (500, 600, 3, 30.0)
    # Every goal may end by its deadline plus the wait's margin, within the budget.
    assert quick.deadline + 60 < quick.budget < 540


def test_a_probe_goal_does_not_stand_in_for_a_goal_the_gateway_refused():
    args = parse(["--quick", "--goals", "2", "--rounds", "0"])
    tally = Tally(accepted=[str(uuid.uuid4())], probe_goals=[str(uuid.uuid4())])
    found = Findings(goals=2, completed=2)
    assert verdict(found, tally, args, INSTANCES) == ["only 1 of 2 goals were accepted"]


def test_a_run_that_killed_workers_and_redelivered_nothing_fails():
    args = parse(["--quick", "--goals", "1"])
    tally = Tally(kills=Counter(dict.fromkeys(INSTANCES, 1)), accepted=[str(uuid.uuid4())])
    quiet = verdict(Findings(goals=1, completed=1), tally, args, INSTANCES)
    assert len(quiet) == 1
    assert "no task was redelivered" in quiet[0]
    assert (
        verdict(Findings(goals=1, completed=1, redelivered_tasks=1), tally, args, INSTANCES) == []
    )


def test_every_replica_must_be_killed_its_rounds():
    args = parse(["--quick", "--goals", "1"])
    kills = Counter(dict.fromkeys(INSTANCES, 1)) - Counter({"aggregator.2": 1})
    tally = Tally(kills=kills, accepted=[str(uuid.uuid4())])
    found = Findings(goals=1, completed=1, redelivered_tasks=1)
    assert verdict(found, tally, args, INSTANCES) == [
        "service instances killed fewer than 1 times: {'aggregator.2': 0}"
    ]


def test_every_instance_has_its_own_health_port_inside_the_block_the_run_keeps_free():
    settings = CliSettings()
    ports = [process.port for process in processes_of(settings, REPLICAS)[:-1]]  # no gateway
    base = settings.dev.health_port_base
    assert len(set(ports)) == len(ports)
    assert all(base <= port < base + HEALTH_BLOCK for port in ports)


def test_the_stack_s_ports_are_free_and_below_the_ports_outgoing_connections_take():
    base = free_block(21, random.Random(5))
    assert base + 21 <= first_ephemeral_port()
    assert all(bindable(base + i) for i in range(21))
