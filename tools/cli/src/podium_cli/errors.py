"""The errors the `podium` commands raise; `__main__` reports them in one line."""

from __future__ import annotations

from podium_common.errors import PodiumError


class StackError(PodiumError):
    """A server of the local stack would not start, stop or answer; the message says what to do."""

    kind = "stack"


class CommandError(PodiumError):
    """A command cannot do what it was asked; the message says why."""

    kind = "command"
