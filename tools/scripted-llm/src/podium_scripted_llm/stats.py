"""Counts of calls, for tests that count LLM calls and benchmarks that count tokens."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_role: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.by_role_outcome: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def record(self, role: str, outcome: str) -> None:
        """One call of `role` that ended in `outcome` (ok, refused, bad_request, timeout,
        malformed, or the HTTP status of an injected error)."""
        self.total += 1
        self.by_role[role] += 1
        self.by_outcome[outcome] += 1
        self.by_role_outcome[role][outcome] += 1

    def add_tokens(self, prompt: int, completion: int) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_role": dict(self.by_role),
            "by_outcome": dict(self.by_outcome),
            "by_role_outcome": {role: dict(c) for role, c in self.by_role_outcome.items()},
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
        }
