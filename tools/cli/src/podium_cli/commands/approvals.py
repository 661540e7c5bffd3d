"""`podium approve` and `podium reject`: a person's decision on a task that waits for one."""

from __future__ import annotations

import argparse
import json

from podium_cli.asking import person
from podium_cli.gateway import Gateway
from podium_cli.settings import CliSettings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        parser = commands.add_parser(
            name,
            help=f"{verb} what a goal's task waits for (its input before it runs, or its output)",
        )
        parser.add_argument("goal_id")
        parser.add_argument("task", help="the task: its plan's name (t3, t1/s2) or its id")
        parser.add_argument(
            "-m",
            "--message",
            default="",
            help="a comment; a rejection with one sends the task back once with it as feedback",
        )
        parser.add_argument("--by", default=None, help="who decides (default: $USER)")
        parser.add_argument("--url", help="the gateway (default http://127.0.0.1:<port>)")
        parser.set_defaults(func=cmd_decide, decision=verb)


def cmd_decide(args: argparse.Namespace) -> int:
    settings = CliSettings()
    gateway = Gateway(args.url or settings.gateway_url, api_key=settings.api_key)
    answer = gateway.decide(
        args.goal_id, args.task, args.decision, args.message, args.by or person()
    )
    print(json.dumps(answer))
    return 0
