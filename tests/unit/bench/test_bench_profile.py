"""The profile summary: own time per innermost frame, from py-spy's collapsed stacks."""

from __future__ import annotations

from pathlib import Path

from bench.profile import hottest, own_time, report

COLLAPSED = """\
<module> (app.py:1);run (loop.py:10);handle (worker.py:20);encode (avro.py:5) 30
<module> (app.py:1);run (loop.py:10);handle (worker.py:20) 10
<module> (app.py:1);run (loop.py:10);select (selectors.py:468) 50
<module> (app.py:1);run (loop.py:10);handle (worker.py:20);encode (avro.py:5) 10
"""


def test_samples_count_for_the_innermost_frame_only():
    samples = own_time(COLLAPSED)
    assert samples == {
        "encode (avro.py:5)": 40,
        "handle (worker.py:20)": 10,
        "select (selectors.py:468)": 50,
    }


def test_the_hottest_frames_come_first_with_their_share():
    assert hottest(COLLAPSED, top=2) == [
        ("select (selectors.py:468)", 0.5),
        ("encode (avro.py:5)", 0.4),
    ]


def test_a_line_that_is_not_a_stack_and_a_count_is_ignored():
    assert own_time("py-spy> sampling\n\nrun (a.py:1) 3\n") == {"run (a.py:1)": 3}


def test_the_report_names_each_service_and_its_frames(tmp_path: Path):
    (tmp_path / "planner.txt").write_text(COLLAPSED)
    lines = report(tmp_path, top=1).splitlines()
    assert lines == ["planner (own time, share of samples)", "   50.0%  select (selectors.py:468)"]
