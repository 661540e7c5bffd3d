"""A goal's cost, and secrets kept out of sight, on a running stack: with PODIUM_PRICES set,
a completed goal's cost per task and in total is its tokens times the prices, its tenant's
usage (`podium usage`) and the services' `podium_llm_cost_total` agree; every service runs
with known secrets (an API key, the LLM's key, PostgreSQL's password, a SASL password) and
none of them is in any log or `/metrics` page."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from podium_cli.stack.processes import free_port
from podium_cli.usage import tenant_usage
from podium_common import apikeys
from podium_common.prices import Price
from podium_recorder import migrations
from tests.conftest import fresh_database
from tests.e2e.conftest import SERVICES, Stack, _wait_ready, running_stack
from tests.e2e.test_goals import wait_for_end
from tests.e2e.test_observability import samples, total

pytestmark = pytest.mark.e2e

# Priced by the names the scripted LLM answers with.
PRICES = {
    "scripted:gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6},
    "scripted:gpt-4o": {"input_per_million": 2.5, "output_per_million": 10},
}
TENANT = "acme"
CONSUMERS = [name for name in SERVICES if name != "podium-gateway"]
SECRETS = {
    "llm": f"llm-key-{uuid.uuid4().hex}",
    "sasl": f"sasl-password-{uuid.uuid4().hex}",
    "postgres": f"pg-password-{uuid.uuid4().hex}",
}


class Priced:
    def __init__(self, stack: Stack, token: str, health: dict[str, int]) -> None:
        self.stack, self.token, self.health = stack, token, health


def with_password(dsn: str, password: str) -> str:
    """The DSN with a password for its user (the test server trusts local users, so the
    password is carried, and must be kept out of sight, without being checked)."""
    scheme, _, rest = dsn.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"


@pytest.fixture(scope="module")
async def priced(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Priced]:
    async with fresh_database() as plain_dsn:
        connection = await asyncpg.connect(plain_dsn)
        try:
            await migrations.apply(plain_dsn)
            token, _ = await apikeys.create(connection, TENANT, "tester")
        finally:
            await connection.close()
        env = {
            "PODIUM_PRICES": json.dumps(PRICES),
            "PODIUM_REQUIRE_KEYS": "true",
            "PODIUM_LLM__API_KEY": SECRETS["llm"],
            "PODIUM_KAFKA__SASL_PASSWORD": SECRETS["sasl"],
        }
        dsn = with_password(plain_dsn, SECRETS["postgres"])
        async with running_stack(tmp_path_factory, dsn, extra_env=env) as stack:
            health = {name: free_port() for name in CONSUMERS}
            for name, port in health.items():
                stack.restart(name, PODIUM_HEALTH_PORT=str(port))
            for port in health.values():
                await _wait_ready(f"http://127.0.0.1:{port}/readyz", stack)
            yield Priced(stack, token, health)


async def run_goal(priced: Priced) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {priced.token}"}
    async with httpx.AsyncClient(base_url=priced.stack.gateway, headers=headers) as gateway:
        response = await gateway.post("/goals", json={"goal": "Compare two caches"})
        assert response.status_code == 202, response.text
        return await wait_for_end(gateway, response.json()["goal_id"], 90)


def priced_at(model: str, prompt: int, completion: int) -> float:
    price = PRICES[model]
    return (prompt * price["input_per_million"] + completion * price["output_per_million"]) / 1e6


async def scrape(priced: Priced) -> dict[str, str]:
    pages = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, port in priced.health.items():
            pages[name] = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        pages["podium-gateway"] = (await client.get(f"{priced.stack.gateway}/metrics")).text
    return pages


async def test_a_goal_costs_its_tokens_at_the_prices_everywhere(priced: Priced) -> None:
    goal = await run_goal(priced)
    assert goal["status"] == "completed", goal

    expected_tasks = []
    for task in goal["tasks"]:
        tokens = task["tokens"]
        expected = priced_at(task["model"], tokens["prompt"], tokens["completion"])
        assert task["cost"] == pytest.approx(expected, rel=1e-6), task
        expected_tasks.append(expected)
    totals = goal["totals"]
    planner_prompt = totals["prompt_tokens"] - sum(t["tokens"]["prompt"] for t in goal["tasks"])
    planner_completion = totals["completion_tokens"] - sum(
        t["tokens"]["completion"] for t in goal["tasks"]
    )
    assert planner_prompt > 0
    planner = priced_at(goal["plan"]["model"], planner_prompt, planner_completion)
    assert totals["cost"] == pytest.approx(planner + sum(expected_tasks), rel=1e-6)
    assert totals["cost"] > 0

    prices = {model: Price.model_validate(price) for model, price in PRICES.items()}
    connection = await asyncpg.connect(priced.stack.pg_dsn)
    try:
        usage = await tenant_usage(connection, prices, TENANT)
    finally:
        await connection.close()
    assert {row.tenant for row in usage} == {TENANT}
    assert sum(row.cost or 0 for row in usage) == pytest.approx(totals["cost"], rel=1e-6)
    assert sum(row.prompt_tokens for row in usage) == totals["prompt_tokens"]

    cli = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "podium_cli", "usage", "--tenant", TENANT),
        env={**os.environ, **priced.stack.env},
        stdout=asyncio.subprocess.PIPE,
    )
    shown = (await asyncio.wait_for(cli.communicate(), 60))[0].decode()
    assert cli.returncode == 0
    assert f"{totals['cost']:.6f}" in shown, shown

    spent = sum(
        total(samples(page), "podium_llm_cost_total") for page in (await scrape(priced)).values()
    )
    assert spent == pytest.approx(totals["cost"], rel=1e-6)


async def test_no_secret_is_in_any_log_or_metrics_page(priced: Priced) -> None:
    goal = await run_goal(priced)
    assert goal["status"] == "completed", goal
    pages = await scrape(priced)
    logs = {path.name: path.read_text() for path in priced.stack.logs.iterdir()}
    assert len(logs) >= len(SERVICES), sorted(logs)
    # The key's own parser: a secret (URL-safe base64) may itself hold "_".
    parsed = apikeys.parse(priced.token)
    assert parsed is not None
    key_secret = parsed[1]
    assert len(key_secret) >= 32
    for what, secret in {**SECRETS, "api key": key_secret}.items():
        for name, text in {**pages, **logs}.items():
            assert secret not in text, f"the {what} secret is in {name}"
