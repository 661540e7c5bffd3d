"""The failures a Celery worker logs that no goal's outcome shows.

A refused acknowledgement or a dropped broker connection ends no task with an error: the
worker logs it (ERROR or CRITICAL) and goes on, and a goal may be lost without a word in
the figures. The benchmark counts those records in its workers' logs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# A Celery log record's level: "[2026-12-06 21:51:02,117: CRITICAL/MainProcess] ...".
LEVEL = re.compile(r"^\[[^\]]*: (ERROR|CRITICAL)/")


def problems(logs: Path) -> dict[str, Any]:
    """The ERROR and CRITICAL records of the `*.log` files in `logs`, and the first of them
    (cut to 300 characters; None when there is none)."""
    counts = {"ERROR": 0, "CRITICAL": 0}
    first = None
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            level = LEVEL.search(line)
            if level is None:
                continue
            counts[level.group(1)] += 1
            first = first or line.strip()[:300]
    return {"errors": counts["ERROR"], "critical": counts["CRITICAL"], "first": first}
