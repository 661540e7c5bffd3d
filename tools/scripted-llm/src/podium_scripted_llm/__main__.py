"""`podium-scripted-llm`: serves scripted answers over the OpenAI chat-completions API."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import uvicorn
from pydantic_settings import CliApp

from podium_scripted_llm.app import create_app
from podium_scripted_llm.settings import ScriptedSettings

BANNER = """
{rule}
  PODIUM SCRIPTED LLM — NOT A MODEL
  Every answer from http://{host}:{port}/v1 is scripted for tests and benchmarks.
  No language model is involved; nothing here reflects a real LLM's output.
  Faults: {faults}
{rule}
"""


def banner(settings: ScriptedSettings) -> str:
    faults = ", ".join(f"{key}={value}" for key, value in settings.faults().model_dump().items())
    return BANNER.format(rule="!" * 78, host=settings.host, port=settings.port, faults=faults)


def parse(argv: Sequence[str]) -> ScriptedSettings:
    """Settings from flags, then PODIUM_SCRIPTED_LLM_* variables, then defaults."""
    return CliApp.run(ScriptedSettings, cli_args=list(argv))


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse(sys.argv[1:] if argv is None else argv)
    print(banner(settings), file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(settings.faults()),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        lifespan="off",
        # The standard library's loop and h11 whatever the services run on: every system
        # `make bench` compares calls this same server, and its figures stay comparable.
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=2,
        # A worker at 4096 calls in flight opens that many connections at once; beyond
        # uvicorn's default backlog (2048) they were dropped and retried by TCP seconds later.
        backlog=4096,
    )


if __name__ == "__main__":
    main()
