"""`make chaos-soak`: one line per run, a stop at the first failure with its log kept, and
a summary with the total time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.soak import parse, soak

SUMMARY = "chaos: goals=41 completed=41 failed=0 lost=0 duplicate_outputs=0"


def runs_failing_at(failing: int | None) -> Callable[[Path], tuple[bool, str]]:
    """A stand-in for the quick chaos run that writes its log and fails on run `failing`."""
    count = 0

    def run_once(log: Path) -> tuple[bool, str]:
        nonlocal count
        count += 1
        log.write_text(f"run {count}\n")
        return count != failing, SUMMARY

    return run_once


def test_every_run_passes_one_line_each_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert soak(3, runs_failing_at(None), tmp_path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" in ")[0] for line in lines[:3]] == [
        "soak 1/3: ok",
        "soak 2/3: ok",
        "soak 3/3: ok",
    ]
    assert all(line.endswith(SUMMARY) for line in lines[:3])
    assert lines[3].startswith("soak: 3/3 green in 0m00s")
    assert not tmp_path.exists()  # nothing kept when all passed


def test_the_first_failure_stops_the_soak_and_keeps_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert soak(5, runs_failing_at(2), tmp_path) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("soak 2/5: FAILED")
    assert lines[2].startswith("soak: run 2 of 5 failed after 1 green in ")
    assert [p.name for p in tmp_path.iterdir()] == ["run-2.log"]


def test_arguments_after_the_double_dash_go_to_every_run() -> None:
    args = parse(["--runs", "4", "--", "--seed", "7"])
    assert (args.runs, args.chaos_args) == (4, ["--seed", "7"])
