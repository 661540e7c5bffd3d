"""`podium watch ID` follows a goal over the gateway's progress stream; `podium cancel ID`
cancels it."""

from __future__ import annotations

import argparse

import httpx

from podium_cli.commands.goals import say
from podium_cli.gateway import Gateway
from podium_cli.settings import CliSettings
from podium_cli.watch import cancel, watch


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    follow = commands.add_parser(
        "watch", help="follow a goal's events live (SSE) until it ends; exit 1 if it failed"
    )
    follow.add_argument("goal_id")
    follow.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (900)")
    _url(follow)
    follow.set_defaults(func=cmd_watch)
    stop = commands.add_parser("cancel", help="cancel a goal's latest run")
    stop.add_argument("goal_id")
    stop.add_argument("--reason", default="", help="why, recorded with the cancellation")
    _url(stop)
    stop.set_defaults(func=cmd_cancel)


def _url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the gateway (default http://127.0.0.1:<dev.gateway_port>)")


def _gateway(args: argparse.Namespace) -> Gateway:
    # A progress stream is silent between events: reads wait past the gateway's pings.
    client = httpx.Client(timeout=httpx.Timeout(10.0, read=60.0))
    settings = CliSettings()
    return Gateway(args.url or settings.gateway_url, client, api_key=settings.api_key)


def cmd_watch(args: argparse.Namespace) -> int:
    outcome = watch(_gateway(args), args.goal_id, on_line=say, timeout_s=args.timeout)
    return 0 if outcome == "GoalCompleted" else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    body = cancel(_gateway(args), args.goal_id, args.reason)
    print(f"goal {body['goal_id']} run {body['run']}: {body['status']}")
    return 0
