"""Jars from Maven Central, fetched once through Maven into the cache outside the checkout.

A pom under `infra/` pins what to fetch; a fetch lands in `<target>.partial` and becomes
`<target>` (marked complete) only whole, so a fetch cut short never counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from podium_cli.errors import StackError

COMPLETE = ".complete"


def pinned(pom: Path, prop: str) -> str:
    """The value of the pom's `<prop>` property (a version)."""
    found = re.search(rf"<{re.escape(prop)}>([^<]+)</{re.escape(prop)}>", pom.read_text())
    if found is None:
        raise StackError(f"{pom} has no <{prop}> property")
    return found.group(1).strip()


def fetch(pom: Path, target: Path, *, what: str, expect: str) -> Path:
    """The jars `pom` depends on in `target`, fetched through Maven the first time; `expect`
    is a glob at least one fetched jar must match."""
    if (target / COMPLETE).is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Maven (mvn) is needed once to fetch {what} from Maven Central; "
            "install it (Debian: apt-get install maven; macOS: brew install maven)"
        )
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"  fetching {what} from Maven Central into {target} (once)")
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - fixed argv
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not any(partial.glob(expect)):
        raise StackError(f"Maven could not fetch {what}:\n{done.stdout}{done.stderr}")
    (partial / COMPLETE).write_text(f"{time.monotonic() - started:.1f}s\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
