"""`podium run`, `submit` and `get`: goals through the gateway."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from podium_cli.asking import Asker
from podium_cli.gateway import Gateway, follow
from podium_cli.progress import failure, summary
from podium_cli.settings import CliSettings
from podium_cli.stack.control import SCRIPTED_BANNER, Stack
from podium_cli.stack.layout import Layout
from podium_common.events import AFTER, BEFORE
from podium_common.topics import TaskType


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run", help="bring the stack up if needed, submit a goal, follow it, print the answer"
    )
    _goal_arguments(run)
    run.add_argument(
        "--timeout",
        type=float,
        default=1900.0,
        help="seconds to wait (1900: past a goal's deadline on the local model, 1800)",
    )
    run.add_argument(
        "--ask",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask here about each task that waits for approval (default: when at a terminal)",
    )
    run.set_defaults(func=cmd_run)
    submit = commands.add_parser("submit", help="submit a goal; print its id")
    _goal_arguments(submit)
    submit.set_defaults(func=cmd_submit)
    get = commands.add_parser("get", help="print a goal as the gateway reports it (JSON)")
    get.add_argument("goal_id")
    _url_argument(get)
    get.set_defaults(func=cmd_get)


def _goal_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("goal", help="what to achieve, in words")
    parser.add_argument("--max-tasks", type=int, help="the most tasks the plan may have")
    parser.add_argument("--deadline", type=int, help="seconds the goal may take")
    parser.add_argument(
        "--approve",
        metavar="TYPE=STAGE",
        action="append",
        type=approval,
        default=[],
        help="tasks of TYPE wait for a person's approval of their input (before) or their"
        " output (after); repeatable",
    )
    parser.add_argument(
        "--plan-approvals",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether tasks the plan itself marks for approval wait for a person (default:"
        " the stack's PODIUM_PLAN_APPROVALS; off on the local model)",
    )
    _url_argument(parser)


def _url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the gateway (default http://127.0.0.1:<dev.gateway_port>)")


def approval(text: str) -> tuple[str, str]:
    """`TYPE=STAGE` of `--approve`, checked: a task type and before or after."""
    kind, _, stage = text.partition("=")
    types = ", ".join(TaskType)
    if kind not in set(TaskType):
        raise argparse.ArgumentTypeError(f"{kind!r} is not a task type ({types})")
    if stage not in (BEFORE, AFTER):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the stage, {kind}={BEFORE} (its input) or {kind}={AFTER} (its output)"
        )
    return kind, stage


def options(args: argparse.Namespace) -> dict[str, Any]:
    chosen = {
        "max_tasks": args.max_tasks,
        "deadline_s": args.deadline,
        "approvals": dict(args.approve) or None,
        "plan_approvals": args.plan_approvals,
    }
    return {key: value for key, value in chosen.items() if value is not None}


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    settings = CliSettings()
    gateway = Gateway(args.url or settings.gateway_url, api_key=settings.api_key)
    stack = Stack(settings, Layout.of(settings))
    if args.url is None and not gateway.ready():
        say("the stack is not up: starting it")
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the answer
            stack.up(infra_only=False)
    if stack.uses_scripted_llm():
        recorded = stack.recorded_llm() or {}
        say(SCRIPTED_BANNER.format(url=recorded.get("llm_base_url")))
        if settings.external_llm:
            say(
                "PODIUM_LLM__BASE_URL is set, but the running services were started without "
                "it: `podium down`, then run again"
            )
    accepted = gateway.submit(args.goal, options(args))
    goal_id = accepted["goal_id"]
    say(f"goal {goal_id} submitted")
    ask = args.ask if args.ask is not None else sys.stdin.isatty() and sys.stderr.isatty()
    final = following(gateway, goal_id, timeout_s=args.timeout, ask=ask)
    say(summary(final))
    if final.get("status") != "completed":
        say(f"goal {goal_id} failed: {failure(final)}")
        return 1
    print(final.get("output") or "")
    return 0


def following(gateway: Gateway, goal_id: str, *, timeout_s: float, ask: bool) -> dict[str, Any]:
    """`follow` with progress on stderr; stopped (Ctrl-C), it says that the goal goes on."""
    try:
        return follow(
            gateway,
            goal_id,
            timeout_s=timeout_s,
            on_progress=lambda s: say(f"  {s}"),
            on_approval=Asker(gateway, write=say) if ask else None,
        )
    except KeyboardInterrupt:
        say(
            f"stopped following goal {goal_id}, which goes on: `podium watch {goal_id}` "
            f"follows it again, `podium cancel {goal_id}` stops it"
        )
        raise


def cmd_submit(args: argparse.Namespace) -> int:
    settings = CliSettings()
    gateway = Gateway(args.url or settings.gateway_url, api_key=settings.api_key)
    print(gateway.submit(args.goal, options(args))["goal_id"])
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    settings = CliSettings()
    gateway = Gateway(args.url or settings.gateway_url, api_key=settings.api_key)
    goal = gateway.get(args.goal_id)
    if goal is None:
        say(f"no goal {args.goal_id}")
        return 1
    print(json.dumps(goal, indent=2))
    return 0
