"""A scripted LLM app per test, reached through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from podium_scripted_llm.app import State, create_app
from podium_scripted_llm.faults import Faults
from podium_scripted_llm.settings import FaultConfig


@pytest.fixture
def state() -> State:
    return State(Faults(FaultConfig()))


@pytest.fixture
async def client(state: State) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://scripted") as client:
        yield client
