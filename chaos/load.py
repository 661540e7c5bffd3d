"""Goals submitted through the gateway at a steady rate for as long as the faults last, each
retried until it is accepted: a gateway that is down (killed, restarting) or answers 503 is
asked again."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

log = logging.getLogger("chaos")

# Plans with parallel and dependent tasks, in turn.
SHAPES = (
    "[parallel=2][chain=2]",
    "[parallel=3]",
    "[chain=3]",
    "[parallel=2][chain=1]",
    "",
)


def goal_text(index: int) -> str:
    return f"Chaos goal #{index}: weigh option {index % 7} {SHAPES[index % len(SHAPES)]}"


async def submit(client: httpx.AsyncClient, index: int, deadline_s: int) -> str | None:
    """The id of the accepted goal, or None if the gateway never accepted it."""
    body = {"goal": goal_text(index), "options": {"deadline_s": deadline_s}}
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        wait = 0.5
        try:
            response = await client.post("/goals", json=body)
        except httpx.TransportError as error:
            log.debug("goal %d: gateway unreachable (%r)", index, error)
        else:
            if response.status_code == 202:
                goal_id: str = response.json()["goal_id"]
                return goal_id
            if response.status_code != 503:
                log.error("goal %d refused: %d %s", index, response.status_code, response.text)
                return None
            wait = float(response.headers.get("Retry-After", wait))
        await asyncio.sleep(wait)
    log.error("goal %d: not accepted within its deadline of %ds", index, deadline_s)
    return None


async def submit_all(
    gateway: str,
    goals: int,
    rate: float,
    deadline_s: int,
    into: list[str],
    during: asyncio.Future[None],
) -> int:
    """Submits `goals` goals, `rate` per second, and goes on at that rate until `during` is
    done, so that every fault meets goals in flight; the ids the gateway accepted go `into`.
    Returns how many were submitted."""

    async def one(client: httpx.AsyncClient, index: int) -> None:
        goal_id = await submit(client, index, deadline_s)
        if goal_id is not None:
            into.append(goal_id)

    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client, asyncio.TaskGroup() as tg:
        index = 0
        while index < goals or not during.done():
            tg.create_task(one(client, index))
            index += 1
            await asyncio.sleep(1 / rate)
    return index
