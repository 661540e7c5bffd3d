"""A benchmark stack fails the scenario as soon as one of its processes exits."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from bench.infra import Run
from bench.stack import Stack
from podium_common.settings import KafkaSettings


def stack_of(tmp_path_factory: pytest.TempPathFactory, **scripts: str) -> Stack:
    stack = Stack(Run(KafkaSettings(), "postgresql://unused"), logs=tmp_path_factory.mktemp("s"))
    for name, script in scripts.items():
        stack._spawn(name, [sys.executable, "-c", script], {})
    return stack


async def test_a_process_that_exits_fails_the_waiting_body_with_its_log(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = stack_of(
        tmp_path_factory,
        lasting="import time; time.sleep(30)",
        dying="import time; time.sleep(0.3); print('port taken'); raise SystemExit(1)",
    )
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match=r"(?s)\['dying'\] exited.*port taken"):
            async with stack.watched(every_s=0.05):
                await asyncio.Event().wait()  # a goal that would never end
    finally:
        stack.stop()
    assert time.monotonic() - started < 10
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_body_with_every_process_alive_runs_to_its_end(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = stack_of(tmp_path_factory, lasting="import time; time.sleep(30)")
    try:
        async with stack.watched(every_s=0.05):
            await asyncio.sleep(0.3)
            outcome = "done"
    finally:
        stack.stop()
    assert outcome == "done"


async def test_a_cancel_from_outside_stays_a_cancel(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = stack_of(tmp_path_factory, lasting="import time; time.sleep(30)")

    async def body() -> None:
        async with stack.watched(every_s=0.05):
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await asyncio.sleep(0.2)
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        stack.stop()
