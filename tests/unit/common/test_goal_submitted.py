"""`GoalSubmitted.accepted`: the one way a run of a goal is made."""

import uuid
from datetime import UTC, datetime

from podium_common.events import GoalOptions, GoalSubmitted, Trace, derived_id


def test_a_new_goal_gets_its_own_id_and_an_event_id_derived_from_it() -> None:
    first, second = GoalSubmitted.accepted("Explain Kafka"), GoalSubmitted.accepted("Explain Kafka")

    assert first.goal_id != second.goal_id
    assert first.event_id == derived_id("goal", first.goal_id, 1)
    assert first.run == 1
    assert (first.submitter, first.tenant, first.options) == ("anonymous", "default", GoalOptions())
    assert first.trace != second.trace


def test_the_same_run_of_the_same_goal_is_the_same_event_id() -> None:
    goal_id = uuid.uuid4()
    again = [GoalSubmitted.accepted("Explain Kafka", goal_id=goal_id, run=3) for _ in range(2)]

    assert again[0].event_id == again[1].event_id == derived_id("goal", goal_id, 3)
    assert GoalSubmitted.accepted("Explain Kafka", goal_id=goal_id, run=4).event_id != (
        again[0].event_id
    )


def test_what_is_given_is_kept() -> None:
    trace, at = Trace.new(), datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    options = GoalOptions(deadline_s=30)

    event = GoalSubmitted.accepted(
        "Compare brokers",
        trace=trace,
        submitter="ada",
        tenant="acme",
        options=options,
        at=at,
    )

    assert (event.goal, event.trace, event.submitter, event.tenant) == (
        "Compare brokers",
        trace,
        "ada",
        "acme",
    )
    assert (event.options, event.occurred_at) == (options, at)
    assert event.deadline_at() == datetime(2026, 1, 2, 3, 4, 35, 6000, tzinfo=UTC)
