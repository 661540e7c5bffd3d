"""values.yaml documents every value it has (`## @param <path> <what it does>`), and
documents nothing it does not have."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from tests.unit.deploy.tools import CHART

PARAM = re.compile(r"^\s*## @param (\S+) \S")


def paths(values: Any, prefix: str = "") -> list[str]:
    """Every path in the values, blocks and leaves: `default.image.repository`, ..."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{prefix}{key}"
            found += [path, *paths(value, path + ".")]
    return found


def test_every_value_is_documented_and_every_doc_names_a_value(yaml: ModuleType) -> None:
    text = (CHART / "values.yaml").read_text()
    documented = {m.group(1) for line in text.splitlines() if (m := PARAM.match(line))}
    values = yaml.safe_load(text)
    existing = set(paths(values))
    assert documented - existing == set()

    def covered(path: str) -> bool:
        parts = path.split(".")
        return any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1))

    def block(path: str) -> bool:  # a mapping whose keys are documented one by one
        value: Any = values
        for part in path.split("."):
            value = value[part]
        return isinstance(value, dict) and path not in documented and bool(value)

    undocumented = sorted(p for p in existing if not covered(p) and not block(p))
    assert undocumented == []
