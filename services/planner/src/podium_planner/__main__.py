"""Runs the planner: consumes `goals`, publishes to `plans` and `tasks.<type>`."""

from __future__ import annotations

import functools

from podium_common.kafka import Publisher
from podium_common.llm import LLM
from podium_common.llm_cache import build_llm
from podium_common.llm_limits import LimitedLLM
from podium_common.service import main as run_main
from podium_common.service import run_consumer, setup_logging
from podium_planner.handler import on_event
from podium_planner.settings import PlannerSettings

SERVICE = "planner"


async def serve(settings: PlannerSettings, llm: LLM) -> None:
    """Plans goals until SIGTERM or SIGINT, then drains, commits and returns."""
    topics = settings.kafka.topics
    # Owned here, so the handler can publish progress before it asks the LLM.
    publisher = Publisher(settings.kafka, client_id=topics.group(SERVICE))
    await publisher.start()
    try:
        await run_consumer(
            service=SERVICE,
            kafka=settings.kafka,
            topics=[topics.goals],
            handler=functools.partial(
                on_event, llm=llm, settings=settings, progress=publisher.publish
            ),
            max_in_flight=settings.max_in_flight,
            publisher=publisher,
            health=(settings.health_host, settings.health_port),
        )
    finally:
        await publisher.stop()


async def start() -> None:
    settings = PlannerSettings()
    setup_logging(settings.log_level, settings.log_format)
    built = build_llm(settings.llm, ledger=settings.ledger, prices=settings.prices)
    llm = LimitedLLM(built, settings.llm, role="planner")
    try:
        await serve(settings, llm)
    finally:
        await llm.close()


def main() -> None:
    run_main(start)


if __name__ == "__main__":
    main()
