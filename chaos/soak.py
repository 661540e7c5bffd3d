"""`python -m chaos.soak --runs N`: the quick chaos run N times in a row, one line per run,
stopping at the first that fails (its stack's state and its log are kept); then a summary
with the total time. Arguments after `--` go to every run."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chaos.stack import CHECKOUT


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m chaos.soak", description=__doc__)
    cli.add_argument("--runs", type=int, default=20, help="quick chaos runs in a row (20)")
    cli.add_argument("chaos_args", nargs="*", help="passed on to `python -m chaos --quick`")
    return cli.parse_args(argv)


def took(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no summary line)"


def one_run(chaos_args: list[str], log: Path) -> tuple[bool, str]:
    """Whether the quick chaos run passed, and its summary line; its stderr goes to `log`."""
    with log.open("wb") as err:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "chaos", "--quick", *chaos_args],
            cwd=CHECKOUT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )
    return done.returncode == 0, last_line(done.stdout)


def soak(runs: int, run_once: Callable[[Path], tuple[bool, str]], logs: Path) -> int:
    """`run_once(log)` `runs` times, until one fails; 0 if all passed, else 1."""
    started = time.monotonic()
    for run in range(1, runs + 1):
        log = logs / f"run-{run}.log"
        begun = time.monotonic()
        passed, line = run_once(log)
        verdict = "ok" if passed else "FAILED"
        print(
            f"soak {run}/{runs}: {verdict} in {took(time.monotonic() - begun)}  {line}", flush=True
        )
        if not passed:
            print(
                f"soak: run {run} of {runs} failed after {run - 1} green in "
                f"{took(time.monotonic() - started)}; its log is {log} (it names the stack's "
                "state folder, kept)",
                flush=True,
            )
            return 1
        log.unlink()
    print(f"soak: {runs}/{runs} green in {took(time.monotonic() - started)}", flush=True)
    logs.rmdir()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.runs < 1:
        print(f"soak: --runs must be at least 1, not {args.runs}", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="podium-chaos-soak-"))
    return soak(args.runs, lambda log: one_run(args.chaos_args, log), logs)


if __name__ == "__main__":
    sys.exit(main())
