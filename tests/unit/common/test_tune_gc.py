"""`tune_gc`: what start-up made is frozen out of the cyclic collector, a collection
waits for 20,000 allocations, each collection's pause is timed, and the C heap's free pages
go back to the system."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator

import pytest

from podium_common.metrics import GC_PAUSE_SECONDS, GcPauses
from podium_common.service import trim_heap, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks
    gc.enable()


def pauses(generation: int) -> float:
    """How many pauses of the generation the histogram has counted."""
    for metric in GC_PAUSE_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels["generation"] == str(generation):
                return sample.value
    return 0.0


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_collections_come_later() -> None:
    gc.unfreeze()
    made_at_start_up = [[n] for n in range(1000)]
    tune_gc()
    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() >= len(made_at_start_up)


@pytest.mark.usefixtures("restored_gc")
def test_every_collection_is_timed_by_its_generation_once() -> None:
    gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, GcPauses)]
    tune_gc()
    tune_gc()  # a second start-up call adds no second timer
    assert sum(isinstance(c, GcPauses) for c in gc.callbacks) == 1
    gc.disable()  # only the collections asked for below
    before = [pauses(n) for n in range(3)]
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)
    assert [pauses(n) - before[n] for n in range(3)] == [1, 0, 2]


def test_the_heap_is_trimmed_where_glibc_is_there() -> None:
    assert trim_heap() is True  # the services' images and this machine run on glibc


def test_without_glibc_nothing_is_trimmed_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_glibc(name: str) -> object:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_glibc)
    assert trim_heap() is False
