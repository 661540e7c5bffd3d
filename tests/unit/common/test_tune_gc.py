"""`tune_gc`: what start-up made is frozen out of the cyclic collector, and a collection
waits for 20,000 allocations."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from podium_common.service import tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_collections_come_later() -> None:
    gc.unfreeze()
    made_at_start_up = [[n] for n in range(1000)]
    tune_gc()
    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() >= len(made_at_start_up)
