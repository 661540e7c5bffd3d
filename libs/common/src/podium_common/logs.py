"""Logging for every service: plain text for a terminal, or JSON lines for a collector
(`PODIUM_LOG_FORMAT=json`), one setting.

Each record a service handles binds its goal id, task id and trace id (`bind_event`) for
the log lines written while it is handled: JSON lines carry them as the fields `goal_id`,
`task_id` and `trace_id`, not only in the message. The binding lives in a context
variable, so each record's asyncio task sees its own.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from podium_common.events import Event

LogFormat = Literal["text", "json"]
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_bound: ContextVar[dict[str, str] | None] = ContextVar("podium_log_fields", default=None)


def bind_event(event: Event) -> None:
    """The ids of the event being handled, for every line logged while it is handled."""
    fields = {"goal_id": str(event.goal_id), "trace_id": event.trace.traceparent[3:35]}
    task_id = getattr(event, "task_id", None)
    if task_id:
        fields["task_id"] = str(task_id)
    _bound.set(fields)


class BoundFields(logging.Filter):
    """Adds the bound ids to each record as attributes (JSON fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_bound.get() or {}).items():
            setattr(record, name, value)
        return True


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT)


def configure(level: str, log_format: LogFormat) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(BoundFields())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
