"""Dead letters, for `podium dlq`: the shared implementation lives in `podium_common`."""

from podium_common.deadletters import (
    REDRIVE_SERVICE,
    Letter,
    NoSuchLetter,
    Position,
    dlq_topics,
    read,
    redrive,
)

__all__ = ["REDRIVE_SERVICE", "Letter", "NoSuchLetter", "Position", "dlq_topics", "read", "redrive"]
