"""The `podium` command: parses the subcommand and reports errors in one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from podium_cli.commands import (
    approvals,
    dlq,
    goals,
    keys,
    rebuild,
    replay,
    schemas,
    setup,
    stack,
    usage,
    watch,
    workers,
)
from podium_common.errors import PodiumError

Command = Callable[[argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="podium",
        description="Podium's local stack and goals. Settings: PODIUM_* environment variables.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stack.register(commands)
    goals.register(commands)
    approvals.register(commands)
    setup.register(commands)
    dlq.register(commands)
    replay.register(commands)
    rebuild.register(commands)
    schemas.register(commands)
    keys.register(commands)
    usage.register(commands)
    workers.register(commands)
    watch.register(commands)
    return top


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except (PodiumError, ValidationError) as error:
        print(f"podium {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
