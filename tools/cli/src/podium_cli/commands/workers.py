"""`podium workers`: every consumer process that beats on `heartbeats`, and the ones that
stopped beating."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from podium_cli.settings import CliSettings
from podium_common.heartbeat import Beat, group_lag, read_beats, state

HEADER = (
    "STATE",
    "SERVICE",
    "WORKER",
    "VERSION",
    "IN FLIGHT",
    "LAST BEAT",
    "GROUP LAG",
    "PARTITIONS",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    workers = commands.add_parser(
        "workers", help="the consumer processes: alive, stopped, or lost (no heartbeat)"
    )
    workers.add_argument(
        "--lost-after",
        type=float,
        default=15.0,
        help="seconds without a heartbeat before a worker is shown lost (15)",
    )
    workers.set_defaults(func=cmd_workers)


def cmd_workers(args: argparse.Namespace) -> int:
    kafka = CliSettings().kafka_for_stack()
    beats = asyncio.run(read_beats(kafka))
    lags = asyncio.run(group_lag(kafka, [beat.group for beat in beats])) if beats else {}
    now = datetime.now(UTC)
    rows = [row(beat, now, args.lost_after, lags.get(beat.group)) for beat in beats]
    print(table([HEADER, *rows]))
    counts = {s: sum(1 for r in rows if r[0] == s) for s in ("alive", "stopped", "lost")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def row(beat: Beat, now: datetime, lost_after_s: float, lag: int | None) -> tuple[str, ...]:
    age = (now - beat.beat_at).total_seconds()
    return (
        state(beat, now, lost_after_s),
        beat.service,
        beat.worker_id,
        beat.version,
        str(beat.in_flight),
        f"{age:.0f}s ago",
        "?" if lag is None else str(lag),
        ",".join(beat.partitions) or "-",
    )


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
