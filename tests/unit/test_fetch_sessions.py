"""A fetch session's requests: whole, then only what changed; restarted on any doubt."""

from __future__ import annotations

from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v4, FetchRequest_v11

from podium_common.fetch_sessions import MAX_EPOCH, FetchSession, SessionFetchRequest

A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)
MAX = 1_048_576


def opened(wanted: dict[tuple[str, int], tuple[int, int]], session_id: int = 42) -> FetchSession:
    session = FetchSession()
    session.ask(wanted)
    session.answered(0, session_id)
    return session


def test_the_first_request_is_whole_and_opens_the_session() -> None:
    session = FetchSession()
    wanted = {A0: (5, MAX), A1: (7, MAX)}
    ask = session.ask(wanted)
    assert (ask.session_id, ask.epoch, ask.send, ask.forget) == (0, 0, wanted, [])
    session.answered(0, 42)
    assert (session.id, session.epoch, session.held) == (42, 1, wanted)


def test_later_requests_carry_what_moved_and_forget_what_left() -> None:
    session = opened({A0: (5, MAX), A1: (7, MAX), B0: (1, MAX)})
    ask = session.ask({A0: (9, MAX), A1: (7, MAX)})  # a0 taken, b0 paused
    assert (ask.session_id, ask.epoch) == (42, 1)
    assert ask.send == {A0: (9, MAX)}
    assert ask.forget == [B0]
    session.answered(0, 42)
    assert session.epoch == 2
    ask = session.ask({A0: (9, MAX), A1: (7, MAX), B0: (1, MAX)})  # b0 resumed
    assert (ask.send, ask.forget) == ({B0: (1, MAX)}, [])


def test_the_epoch_wraps_to_one() -> None:
    session = opened({A0: (0, MAX)})
    session.epoch = MAX_EPOCH
    session.ask({A0: (0, MAX)})
    session.answered(0, 42)
    assert session.epoch == 1


def test_a_broker_that_makes_no_session_gets_whole_requests() -> None:
    session = opened({A0: (0, MAX)}, session_id=0)
    ask = session.ask({A0: (3, MAX), A1: (0, MAX)})
    assert (ask.session_id, ask.epoch, ask.send) == (0, 0, {A0: (3, MAX), A1: (0, MAX)})
    assert session.held == {}


def test_a_refused_session_starts_over() -> None:
    unknown = opened({A0: (0, MAX)})
    unknown.ask({A0: (0, MAX)})
    unknown.answered(70, 0)  # FETCH_SESSION_ID_NOT_FOUND: open a new one
    assert (unknown.id, unknown.epoch, unknown.held) == (0, 0, {})

    out_of_step = opened({A0: (0, MAX)})
    out_of_step.ask({A0: (0, MAX)})
    out_of_step.answered(71, 0)  # INVALID_FETCH_SESSION_EPOCH: close it, open another
    ask = out_of_step.ask({A0: (0, MAX)})
    assert (ask.session_id, ask.epoch, ask.send) == (42, 0, {A0: (0, MAX)})


def test_a_request_without_an_answer_makes_the_next_whole() -> None:
    session = opened({A0: (0, MAX), A1: (0, MAX)})
    session.ask({A0: (0, MAX), A1: (0, MAX)})
    session.restart()  # failed or cancelled in flight
    session.answered(0, 42)  # an answer that comes anyway changes nothing
    ask = session.ask({A0: (0, MAX), A1: (0, MAX)})
    assert (ask.epoch, ask.send) == (0, {A0: (0, MAX), A1: (0, MAX)})


def whole() -> FetchRequest:
    return FetchRequest(
        20, 1, 50 * MAX, 0, [("a", [(0, 9, MAX), (1, 7, MAX)]), ("b", [(0, 1, MAX)])]
    )


def test_the_wire_carries_the_changes_and_aiokafka_sees_every_partition() -> None:
    session = opened({A0: (5, MAX), A1: (7, MAX), B0: (1, MAX)})
    request = SessionFetchRequest(whole(), session)
    struct = request.build(FetchRequest_v11)
    decoded = FetchRequest_v11.decode(struct.encode())
    assert (decoded.session_id, decoded.session_epoch) == (42, 1)
    assert decoded.topics == [("a", [(0, -1, 9, -1, MAX)])]
    assert decoded.forgotten_topics_data == []
    assert request.topics == whole().topics


def test_a_broker_without_sessions_gets_the_whole_request() -> None:
    session = opened({A0: (5, MAX)})
    struct = SessionFetchRequest(whole(), session).build(FetchRequest_v4)
    assert struct.topics == whole().topics
