"""Celery's worker logs: the ERROR and CRITICAL records counted, the first one kept."""

from __future__ import annotations

from pathlib import Path

from bench.celerylogs import problems

ACK = (
    "[2026-12-06 21:51:02,117: CRITICAL/MainProcess] Couldn't ack 412, reason:"
    " MaxConnectionsError('Too many connections')"
)


def test_error_and_critical_records_are_counted_and_the_first_is_kept(tmp_path: Path) -> None:
    (tmp_path / "worker0.log").write_text(
        "[2026-12-06 21:51:01,002: WARNING/MainProcess] consumer: Connection to broker lost.\n"
        f"{ACK}\n"
        "Traceback (most recent call last):\n"
        '  File "kombu/connection.py", line 1, in ack: ERROR/ in a traceback is no record\n'
    )
    (tmp_path / "worker1.log").write_text(
        "[2026-12-06 21:52:00,500: ERROR/ForkPoolWorker-3] Task run_goal raised\n"
        "[2026-12-06 21:52:01,500: ERROR/MainProcess] Task handler raised error\n"
    )
    (tmp_path / "notes.txt").write_text("[x: CRITICAL/MainProcess] not a worker log\n")
    assert problems(tmp_path) == {"errors": 2, "critical": 1, "first": ACK}


def test_clean_logs_have_no_problems(tmp_path: Path) -> None:
    (tmp_path / "worker0.log").write_text(
        "[2026-12-06 21:51:01,002: WARNING/MainProcess] celery@w0 ready.\n"
    )
    assert problems(tmp_path) == {"errors": 0, "critical": 0, "first": None}
