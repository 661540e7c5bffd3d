"""The web console in a real browser (headless Chromium, driven by Playwright): a goal
submitted from the page and its plan's graph followed live to `completed` (caught mid-run
for a screenshot, the scripted LLM slowed), a task opened with the prompt its worker sent,
the goal run again, the list searched, a waiting goal cancelled, a dead letter re-driven
from the page, the workers shown. Saves screenshots under `.dev/console/`; any console
error or uncaught exception in a page fails it.
"""

from __future__ import annotations

import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, async_playwright, expect

from podium_common.avro import codec
from podium_common.errors import UnexpectedEvent
from podium_common.events import GoalSubmitted
from podium_common.kafka import dead_letter_headers
from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / ".dev" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM, "headless Chromium is needed (Debian: apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    await context.close()
    assert problems == [], problems


async def park_a_goal(stack: Stack, text: str) -> tuple[uuid.UUID, int]:
    """A valid submission parked in `goals.dlq` as a consumer would park it; its offset."""
    event = GoalSubmitted.accepted(text)
    goal_id = event.goal_id
    topics = stack.kafka.topics
    error = UnexpectedEvent("parked by the console test")
    headers = dead_letter_headers(topic=topics.goals, partition=0, offset=0, error=error)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topics.dlq(topics.goals),
            codec().encode(event),
            key=str(goal_id).encode(),
            partition=0,
            headers=headers,
        )
    finally:
        await producer.stop()
    return goal_id, meta.offset


async def scripted_latency(stack: Stack, config: dict[str, float | None]) -> None:
    async with httpx.AsyncClient(base_url=stack.llm, timeout=10) as client:
        (await client.post("/_scripted/config", json=config)).raise_for_status()


async def test_the_console_follows_cancels_and_redrives(
    stack: Stack, gateway: httpx.AsyncClient, page: Page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    parked, offset = await park_a_goal(stack, "A goal re-driven from its dead letter")
    for text in ("Compare two caches [validate]", "Survey rate limiters [chain=2]"):
        await wait_for_end(gateway, await submit(gateway, text), 90)

    # Submitted from the page; its graph goes to completed live, without a reload. Every
    # LLM call takes seconds meanwhile, so that the graph is caught mid-run.
    await scripted_latency(stack, {"latency_ms": 2500, "latency_max_ms": 5000})
    await page.goto(f"{stack.gateway}/console")
    await page.fill("#goal-text", "Compare three queues [parallel=2] [chain=2]")
    await page.click("#submit-goal button")
    await page.wait_for_url("**/console/goals/*")
    goal_id = page.url.rsplit("/", 1)[1]
    await page.evaluate("window.sameDocument = true")
    succeeded = page.locator('#graph .node[data-status="succeeded"]')
    await expect(succeeded.first).to_be_visible(timeout=60_000)
    await page.screenshot(path=str(SHOTS / "goal-graph.png"), full_page=True)
    # Statuses only move forward: what is not succeeded now was not at the screenshot.
    assert await page.locator('#graph .node:not([data-status="succeeded"])').count() > 0
    await scripted_latency(stack, {"latency_ms": 0, "latency_max_ms": None})
    await expect(page.locator("#goal-status .badge")).to_have_text("completed", timeout=90_000)
    await expect(page.locator('#graph .node:not([data-status="succeeded"])')).to_have_count(0)
    assert await page.locator("#graph .node").count() == 5  # 2 parallel, 2 chained, the final
    assert await page.evaluate("window.sameDocument") is True  # live, never reloaded
    await expect(page.locator("#timeline li[data-type=GoalCompleted]")).to_have_count(1)
    await expect(page.locator("#answer")).not_to_have_text("(none yet)")
    await page.screenshot(path=str(SHOTS / "goal-completed.png"), full_page=True)

    # A task's detail.
    await page.locator("#graph .node").first.click()
    await expect(page.locator("#task")).to_be_visible()
    await expect(page.locator("#task-description")).not_to_be_empty()
    await expect(page.locator("#attempts tr")).to_have_count(2)  # header, one attempt
    await expect(page.locator("#attempts")).to_contain_text("worker-")
    # The prompt its worker sent: the researcher's system prompt and the task.
    system = page.locator('#task-prompt details[data-role="system"] pre')
    await expect(system).to_contain_text("You are Podium's researcher.")
    user = page.locator('#task-prompt details[data-role="user"] pre')
    await expect(user).to_contain_text("Goal: Compare three queues")
    await expect(user).to_contain_text("Task: Research part 1 of 2")
    await page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
    body = (await gateway.get(f"/goals/{goal_id}")).json()
    assert (body["status"], body["run"]) == ("completed", 1), body

    # Run again: the goal's next run, followed on the same page.
    await page.click("#rerun")
    await expect(page.locator("#goal-run")).to_have_text("run 2", timeout=20_000)
    await expect(page.locator("#goal-status .badge")).to_have_text("completed", timeout=90_000)
    body = (await gateway.get(f"/goals/{goal_id}")).json()
    assert (body["status"], body["run"]) == ("completed", 2), body
    assert body["goal"] == "Compare three queues [parallel=2] [chain=2]"

    # The goals list, with its filter and search.
    await page.goto(f"{stack.gateway}/console")
    await expect(page.locator(f'#goals tr[data-goal="{goal_id}"]').first).to_be_visible()
    await page.screenshot(path=str(SHOTS / "goals.png"), full_page=True)
    # Searched in the database: the goal's two runs, nothing else.
    await page.fill("#search", "QUEUES")
    await expect(page.locator("#goals tr")).to_have_count(2)
    await expect(page.locator(f'#goals tr[data-goal="{goal_id}"]')).to_have_count(2)
    await page.fill("#search", "")
    await page.select_option("#filter-status", "failed")
    await expect(page.locator(f'#goals tr[data-goal="{goal_id}"]')).to_have_count(0)

    # A goal that waits (its planner is stopped), cancelled from its page.
    stack.processes["podium-planner"].send_signal(signal.SIGTERM)
    stack.processes["podium-planner"].wait(30)
    waiting = await submit(gateway, "Never planned")
    await page.goto(f"{stack.gateway}/console/goals/{waiting}")
    await expect(page.locator("#goal-status .badge")).to_have_text("queued")
    await page.click("#cancel")
    await expect(page.locator("#goal-status .badge")).to_have_text("failed", timeout=30_000)
    await expect(page.locator("#goal-status")).to_contain_text("cancelled")
    stack.restart("podium-planner")

    # The parked submission, re-driven from the dead-letter page, runs to completed.
    await page.goto(f"{stack.gateway}/console/deadletters")
    row = page.locator(f'#letters tr[data-letter="goals.dlq/0/{offset}"]')
    await expect(row).to_contain_text("unexpected_event")
    await row.locator("button.redrive").click()
    await expect(page.locator("#notice")).to_contain_text("re-driven 1 letter")
    body = await wait_for_end(gateway, str(parked), 90)
    assert body["status"] == "completed", body
    await page.screenshot(path=str(SHOTS / "deadletters.png"), full_page=True)

    # Every consumer process, from its heartbeat.
    await page.goto(f"{stack.gateway}/console/workers")
    await expect(page.locator("#workers tr.w-alive").first).to_be_visible(timeout=20_000)
    await expect(page.locator("#workers")).to_contain_text("aggregator")
    await page.screenshot(path=str(SHOTS / "workers.png"), full_page=True)
