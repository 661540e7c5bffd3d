"""The compatibility gate: the schemas kept under `schemas/` pass it, and a newest schema
that cannot read an earlier version fails it, naming the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from podium_cli.schema_check import check
from podium_common.avro import schemas_dir


def test_every_kept_schema_is_read_by_the_newest() -> None:
    found = check(schemas_dir())
    assert found.checked == len(list(schemas_dir().glob("*/published/*.avsc"))) > 0
    assert found.failures == []


def test_a_field_added_without_a_default_breaks_backward_compatibility(tmp_path: Path) -> None:
    root = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), root)
    newest = root / "v1" / "podium.v1.GoalSubmitted.avsc"
    schema = json.loads(newest.read_text())
    schema["fields"].append({"name": "tenant_region", "type": "string"})
    newest.write_text(json.dumps(schema))

    found = check(root)

    kept = list((root / "v1" / "published").glob("podium.v1.GoalSubmitted.*.avsc"))
    assert len(found.failures) == len(kept) > 0  # every kept version, and only those
    assert all("GoalSubmitted" in failure for failure in found.failures)
    assert all("tenant_region" in failure for failure in found.failures)


def test_an_event_removed_while_its_records_are_kept_fails(tmp_path: Path) -> None:
    root = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), root)
    (root / "v1" / "podium.v1.PlanCreated.avsc").unlink()

    found = check(root)

    assert [failure for failure in found.failures if "no newest schema" in failure]
