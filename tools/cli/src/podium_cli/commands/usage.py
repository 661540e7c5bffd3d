"""`podium usage`: tokens and cost per tenant and model, from Podium's database."""

from __future__ import annotations

import argparse

from podium_cli.database import with_connection
from podium_cli.usage import table, tenant_usage
from podium_common.prices import prices_from_env


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    usage = commands.add_parser(
        "usage",
        help="tokens and cost per tenant and model",
        description="Tokens every goal run spent (planner and every task attempt), per tenant "
        "and model, priced by PODIUM_PRICES.",
    )
    usage.add_argument("--tenant", help="only this tenant")
    usage.set_defaults(func=cmd_usage)


def cmd_usage(args: argparse.Namespace) -> int:
    prices = prices_from_env()
    usages = with_connection(lambda connection: tenant_usage(connection, prices, args.tenant))
    for line in table(usages):
        print(line)
    return 0
