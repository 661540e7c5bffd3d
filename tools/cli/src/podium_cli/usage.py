"""Tokens and cost per tenant, from the read model's `tenant_usage` and the price table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from podium_common import prices as pricing
from podium_common.prices import Price

QUERY = """
SELECT tenant, model, prompt_tokens, completion_tokens FROM tenant_usage
WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant NULLS FIRST, model NULLS FIRST
"""


@dataclass(frozen=True)
class Usage:
    """What one tenant spent on one model (cost None: the model has no price)."""

    tenant: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None


async def tenant_usage(
    connection: asyncpg.Connection[Any], prices: Mapping[str, Price], tenant: str | None = None
) -> list[Usage]:
    rows = await connection.fetch(QUERY, tenant)
    return [
        Usage(
            tenant=row["tenant"],
            model=row["model"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            cost=pricing.cost(prices, row["model"], row["prompt_tokens"], row["completion_tokens"]),
        )
        for row in rows
    ]


def table(usages: Sequence[Usage]) -> list[str]:
    """Lines for a person: one per tenant and model, then each tenant's total."""
    lines = [f"{'TENANT':<20} {'MODEL':<28} {'INPUT':>12} {'OUTPUT':>12} COST"]
    tenants: dict[str | None, list[Usage]] = {}
    for usage in usages:
        tenants.setdefault(usage.tenant, []).append(usage)
    for tenant, rows in tenants.items():
        for row in [*rows, _total(tenant, rows)] if len(rows) > 1 else rows:
            lines.append(
                f"{row.tenant or '-':<20} {row.model or '-':<28} "
                f"{row.prompt_tokens:>12} {row.completion_tokens:>12} {_money(row.cost)}"
            )
    return lines


def _total(tenant: str | None, rows: Sequence[Usage]) -> Usage:
    return Usage(
        tenant=tenant,
        model="(all models)",
        prompt_tokens=sum(row.prompt_tokens for row in rows),
        completion_tokens=sum(row.completion_tokens for row in rows),
        cost=pricing.total(row.cost for row in rows),
    )


def _money(cost: float | None) -> str:
    return "no price" if cost is None else f"{cost:.6f}"
