"""`tune_gc`: what start-up made is frozen out of the cyclic collector, a collection
waits for 20,000 allocations, and the C heap's free pages go back to the system."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator

import pytest

from podium_common.service import trim_heap, tune_gc


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


def test_the_heap_is_trimmed_where_glibc_is_there() -> None:
    assert trim_heap() is True  # the services' images and this machine run on glibc


def test_without_glibc_nothing_is_trimmed_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_glibc(name: str) -> object:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_glibc)
    assert trim_heap() is False
