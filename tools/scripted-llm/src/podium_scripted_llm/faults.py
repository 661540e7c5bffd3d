"""Injected latency and faults: random ones drawn from a seeded generator, and a
deterministic queue (`fail_next`) that fails the next N calls."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from podium_scripted_llm.settings import FailNext, FaultConfig


@dataclass(frozen=True)
class Fault:
    kind: Literal["status", "timeout", "malformed"]
    status: int = 200

    @property
    def outcome(self) -> str:
        """How the call is counted in the stats."""
        return str(self.status) if self.kind == "status" else self.kind


def _generator(seed: int) -> random.Random:
    # Reproducible draws are the point here; nothing is secret.
    return random.Random(seed)  # noqa: S311


class Faults:
    """Decides, call by call, the latency and whether the call fails and how.

    Draws come from one generator seeded with `config.seed`: the same sequence of calls
    sees the same latencies and faults."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = _generator(config.seed)
        self.fail_next: FailNext | None = None
        self.fail_left = 0

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Applies a partial update; `fail_next` (an object, or null to clear) replaces the
        pending one; a given `seed` restarts the draws. Raises pydantic's ValidationError."""
        changes = dict(changes)
        replace = "fail_next" in changes
        raw = changes.pop("fail_next", None)
        fail_next = FailNext.model_validate(raw) if raw is not None else None
        config = FaultConfig.model_validate(self.config.model_dump() | changes)
        self.config = config  # only once everything given is valid
        if "seed" in changes:
            self._rng = _generator(config.seed)
        if replace:
            self.fail_next = fail_next
            self.fail_left = fail_next.count if fail_next else 0

    def snapshot(self) -> dict[str, Any]:
        pending = None
        if self.fail_next is not None:
            pending = self.fail_next.model_dump(exclude_none=True) | {"remaining": self.fail_left}
        return self.config.model_dump() | {"fail_next": pending}

    def latency_s(self) -> float:
        low, high = self.config.latency_ms, self.config.latency_max_ms
        millis = low if high is None else self._rng.uniform(low, high)
        return millis / 1000

    def draw(self, role: str) -> Fault | None:
        """The fault for this call, if any; the `fail_next` queue goes first."""
        queued = self._queued(role)
        if queued is not None:
            return queued
        config = self.config
        if not (config.p_429 or config.p_500 or config.p_timeout or config.p_malformed):
            return None
        roll = self._rng.random()
        for probability, fault in (
            (config.p_429, Fault("status", 429)),
            (config.p_500, Fault("status", 500)),
            (config.p_timeout, Fault("timeout")),
            (config.p_malformed, Fault("malformed")),
        ):
            if roll < probability:
                return fault
            roll -= probability
        return None

    def _queued(self, role: str) -> Fault | None:
        pending = self.fail_next
        if pending is None or (pending.role is not None and pending.role != role):
            return None
        self.fail_left -= 1
        if self.fail_left <= 0:
            self.fail_next = None
        if pending.status is not None:
            return Fault("status", pending.status)
        return Fault("timeout" if pending.fault == "timeout" else "malformed")
