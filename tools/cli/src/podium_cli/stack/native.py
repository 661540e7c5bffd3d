"""What a build for "this CPU" depends on, so that a cached build is used only where it runs.

llama.cpp compiles with `-march=native`: its wheel uses every instruction the building CPU
has, and dies of an illegal instruction on a CPU without one of them (a cache carried to
another machine, a virtual machine moved to an older host). The key is the compiler's own
reading of `-march=native`: the target options it turns on for this CPU.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

UNKNOWN = "unknown"


def cpu_key() -> str:
    """A short hash of the options `-march=native` enables here, or `unknown` where the
    compiler cannot say (none installed, or one without `-Q --help=target`)."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        return UNKNOWN
    try:
        done = subprocess.run(  # noqa: S603
            [compiler, "-march=native", "-Q", "--help=target"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    enabled = sorted("".join(line.split()) for line in done.stdout.splitlines() if _on(line))
    if done.returncode != 0 or not enabled:
        return UNKNOWN
    text = " ".join([platform.machine(), *enabled])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _on(line: str) -> bool:
    """An enabled flag (`-mavx2  [enabled]`) or the architecture (`-march=  znver3`)."""
    fields = line.split()
    return len(fields) == 2 and (
        (fields[0].startswith("-m") and fields[1] == "[enabled]") or fields[0] == "-march="
    )


class Stamp:
    """The CPU a cached build was made for, in a file beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fits(self, key: str) -> bool:
        """Whether the build may run here. A build without a stamp is taken as made here,
        and stamped; one stamped `unknown`, or read where the key is unknown, is used as is
        (nothing tells otherwise)."""
        if not self.path.is_file():
            self.write(key)
            return True
        made_for = self.path.read_text().strip()
        return UNKNOWN in (made_for, key) or made_for == key

    def write(self, key: str) -> None:
        self.path.write_text(f"{key}\n")
