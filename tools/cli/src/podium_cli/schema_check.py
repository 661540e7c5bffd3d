"""The compatibility gate (`make schema-check`): the newest schema of every event must read
every earlier version kept under `schemas/` (BACKWARD_TRANSITIVE), checked offline with the
Apache Avro project's own checker (`avro.compatibility`), the rules a registry applies.

Earlier versions are the files under `schemas/<version>/published/`; every version folder
is checked. A published schema whose event has no newest schema is an error too: an event
may not be removed while records of it may still be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import avro.schema
import fastavro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


@dataclass
class Checked:
    checked: int = 0
    report: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def check(root: Path) -> Checked:
    """Every (newest, earlier) pair of every version folder under `root`."""
    found = Checked()
    for folder in sorted(path for path in root.iterdir() if (path / "published").is_dir()):
        for earlier in sorted((folder / "published").glob("*.avsc")):
            found.checked += 1
            problem = _problem(folder, earlier)
            line = f"{folder.name}/published/{earlier.name}: "
            found.report.append(line + (problem or "the newest schema reads it"))
            if problem is not None:
                found.failures.append(line + problem)
    return found


def _problem(folder: Path, earlier: Path) -> str | None:
    """Why the newest schema of the event `earlier` holds cannot read it; None if it can."""
    writer_json = json.loads(earlier.read_text("utf-8"))
    name = str(writer_json["name"]).rsplit(".", 1)[-1]
    newest_path = folder / f"podium.{folder.name}.{name}.avsc"
    if not newest_path.is_file():
        return f"no newest schema podium.{folder.name}.{name}.avsc reads it"
    newest = fastavro.schema.load_schema(str(newest_path), _write_hint=False)
    reader = avro.schema.parse(json.dumps(newest))
    writer = avro.schema.parse(json.dumps(writer_json))
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return None
    where = ", ".join(sorted(result.locations))
    return f"INCOMPATIBLE at {where}: " + "; ".join(sorted(result.messages))
