"""Where the chart, the Compose file and the deploy tools are; picking manifests apart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "podium"
TOOLS = Path(
    os.environ.get("PODIUM_DEPLOY_TOOLS", Path.home() / ".cache" / "podium" / "deploy-tools")
)

Manifest = dict[str, Any]


def tool(name: str) -> Path:
    """A tool `make deploy-tools` installs; its absence fails the test, with what to do."""
    path = TOOLS / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make deploy-tools`", pytrace=False)
    return path


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """The manifests of one kind by their component label (or name)."""
    found = {}
    for manifest in manifests:
        if manifest["kind"] == kind:
            labels = manifest["metadata"].get("labels", {})
            name = labels.get("app.kubernetes.io/component", manifest["metadata"]["name"])
            found[name] = manifest
    return found


def by_name(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """The manifests of one kind by their name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
