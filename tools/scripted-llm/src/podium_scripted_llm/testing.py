"""The scripted LLM inside a test's event loop:

async with serve(FaultConfig(latency_ms=5)) as llm:
    settings = LLMSettings(base_url=llm.base_url)
    llm.fail_next(status=429, count=2)
    ...
    assert llm.stats()["by_role"]["planner"] == 1
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from podium_common.embedded import EmbeddedServer
from podium_scripted_llm.app import State, create_app
from podium_scripted_llm.faults import Faults
from podium_scripted_llm.settings import FaultConfig


class ScriptedLLM:
    """A running scripted LLM: its URLs, and direct access to its faults and stats."""

    def __init__(self, url: str, state: State) -> None:
        self.url = url  # the server's root: /healthz, /_scripted/...
        self.base_url = f"{url}/v1"  # for LLMSettings.base_url
        self.state = state

    def configure(self, **changes: Any) -> None:
        """Changes faults as `POST /_scripted/config` does (same keys, same validation)."""
        self.state.faults.configure(changes)

    def fail_next(
        self,
        *,
        status: int | None = None,
        fault: str | None = None,
        count: int = 1,
        role: str | None = None,
    ) -> None:
        """The next `count` calls (of `role`, if given) fail with `status` or `fault`."""
        spec = {"status": status, "fault": fault, "count": count, "role": role}
        self.configure(fail_next={key: value for key, value in spec.items() if value is not None})

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def reset(self) -> None:
        self.state.stats.reset()


@asynccontextmanager
async def serve(
    config: FaultConfig | None = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[ScriptedLLM]:
    """Serves a scripted LLM on a free port of `host` in the current event loop."""
    state = State(Faults(config or FaultConfig()))
    server = EmbeddedServer(
        uvicorn.Config(
            create_app(state),
            host=host,
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why the server could not start
            raise RuntimeError("the scripted LLM stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield ScriptedLLM(f"http://{host}:{port}", state)
    finally:
        state.closing.set()
        server.should_exit = True
        await task
