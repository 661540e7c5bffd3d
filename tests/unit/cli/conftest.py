"""The CLI's unit tests start from an environment without PODIUM_ settings."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PODIUM_") and not name.startswith("PODIUM_TEST_"):
            monkeypatch.delenv(name)
