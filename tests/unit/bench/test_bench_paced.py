"""The overhead's open loop: goals at a fixed rate, the warm-up's left out of the figures."""

from __future__ import annotations

import uuid

from bench.scenarios.pipeline import paced


class Recorded:
    """Runs each goal at once and remembers the order they were sent in."""

    def __init__(self) -> None:
        self.sent: list[uuid.UUID] = []

    async def run_one(self) -> uuid.UUID:
        goal_id = uuid.uuid4()
        self.sent.append(goal_id)
        return goal_id


async def test_the_goals_of_the_warm_up_are_sent_but_not_counted() -> None:
    driver = Recorded()
    counted = await paced(driver, goals_per_s=100, duration_s=0.1, warmup_s=0.05)
    assert len(driver.sent) >= 10  # about 15: the rate held for 0.15 s
    assert counted == driver.sent[5:]  # 0.05 s at 100 goals/s


async def test_without_a_warm_up_every_goal_counts() -> None:
    driver = Recorded()
    assert await paced(driver, goals_per_s=50, duration_s=0.1, warmup_s=0) == driver.sent
