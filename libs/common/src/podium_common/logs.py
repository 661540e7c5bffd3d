"""Logging for every service: plain text for a terminal, or JSON lines for a collector
(`PODIUM_LOG_FORMAT=json`), one setting.

Each record a service handles binds its goal id, task id and trace id (`bind_event`) for
the log lines written while it is handled: JSON lines carry them as the fields `goal_id`,
`task_id` and `trace_id`, not only in the message. The binding lives in a context
variable, so each record's asyncio task sees its own; the ids are read from the event only
when a line is written, so a record that logs nothing pays one context-variable set.
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

_bound: ContextVar[Event | None] = ContextVar("podium_log_event", default=None)


def bind_event(event: Event) -> None:
    """The event being handled: its ids go on every line logged while it is handled."""
    _bound.set(event)


def fields(event: Event) -> dict[str, str]:
    """The ids a log line carries for `event`."""
    found = {"goal_id": str(event.goal_id), "trace_id": event.trace.traceparent[3:35]}
    task_id = getattr(event, "task_id", None)
    if task_id:
        found["task_id"] = str(task_id)
    return found


class BoundFields(logging.Filter):
    """Adds the bound event's ids to each record as attributes (JSON fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = _bound.get()
        if event is not None:
            for name, value in fields(event).items():
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
