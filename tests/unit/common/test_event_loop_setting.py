"""PODIUM_EVENT_LOOP picks the services' event loop: uvloop unless the standard one
(`asyncio`) is asked for, and a value that is neither is refused, named."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from podium_common.service import new_event_loop


def loop_of(monkeypatch: pytest.MonkeyPatch, value: str | None) -> asyncio.AbstractEventLoop:
    if value is None:
        monkeypatch.delenv("PODIUM_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("PODIUM_EVENT_LOOP", value)
    return new_event_loop()


def test_uvloop_by_default_and_the_standard_loop_on_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default, chosen = loop_of(monkeypatch, None), loop_of(monkeypatch, "asyncio")
    try:
        assert isinstance(default, uvloop.Loop)
        assert not isinstance(chosen, uvloop.Loop)
        assert isinstance(chosen, asyncio.BaseEventLoop)
    finally:
        default.close()
        chosen.close()


def test_another_loop_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="event_loop"):
        loop_of(monkeypatch, "trio")
