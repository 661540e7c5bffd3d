"""The error the stack commands raise when a part of the local stack cannot run."""

from __future__ import annotations

from podium_common.errors import PodiumError


class StackError(PodiumError):
    """A server of the local stack would not start, stop or answer; the message says what to do."""

    kind = "stack"
