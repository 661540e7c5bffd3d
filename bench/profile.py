"""Sampling profiles of the services under load (`make profile`): py-spy records each process
for the measurement window as collapsed stacks, sampled only while it holds the GIL, and the
hottest functions by own time are summed up per service."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 100


@contextmanager
def recording(pids: Mapping[str, int], seconds: float, into: Path) -> Iterator[None]:
    """py-spy on every process for `seconds`; each writes `into/<name>.txt`. Leaving the
    block waits for the recordings to end."""
    into.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(RATE_HZ),
                "--format",
                "raw",
                "--nonblocking",
                # Only while the process holds the GIL, i.e. runs Python: on busy cores a
                # process preempted in a socket write would otherwise be sampled there.
                "--gil",
                "--output",
                str(into / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.wait(timeout=seconds + 30)


def own_time(collapsed: str) -> Counter[str]:
    """Samples per innermost frame, from py-spy's raw output (`frame;frame;leaf count`)."""
    samples: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[stack.rsplit(";", 1)[-1]] += int(count)
    return samples


def hottest(collapsed: str, top: int = 8) -> list[tuple[str, float]]:
    """The `top` frames by own time, each with its share of the process's samples."""
    samples = own_time(collapsed)
    total = sum(samples.values()) or 1
    return [(frame, count / total) for frame, count in samples.most_common(top)]


def report(into: Path, top: int = 8) -> str:
    lines = []
    for path in sorted(into.rglob("*.txt")):
        lines.append(f"{path.relative_to(into).with_suffix('')} (own time, share of samples)")
        lines += [f"  {share:6.1%}  {frame}" for frame, share in hottest(path.read_text(), top)]
    return "\n".join(lines)
