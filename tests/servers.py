"""A server of the stack's own (the broker, a Java HTTP server) run for the length of a
block: started, waited for, then stopped and its process reaped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class Server(Protocol):
    def start(self) -> subprocess.Popen[bytes] | None: ...

    def wait_ready(self, spawned: subprocess.Popen[bytes] | None, timeout_s: float) -> float: ...

    def stop(self) -> bool: ...


S = TypeVar("S", bound=Server)


@contextmanager
def serving(server: S, ready_within_s: float) -> Iterator[S]:
    spawned = server.start()
    try:
        server.wait_ready(spawned, ready_within_s)
        yield server
    finally:
        server.stop()
        if spawned is not None:
            spawned.wait(timeout=30)
