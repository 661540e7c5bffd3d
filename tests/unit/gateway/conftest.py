"""The gateway's unit tests: a fake publisher and an empty fake store, unless a module
overrides them."""

import pytest

from tests.unit.gateway.fakes import FakePublisher, FakeStore


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()
