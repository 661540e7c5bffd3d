"""Where the chart, the Compose file and the deploy tools are; picking manifests apart."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
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


def yaml_module() -> ModuleType:
    """PyYAML, installed beside the tools (the workspace itself needs no YAML parser)."""
    tool("helm")
    if str(TOOLS / "python") not in sys.path:
        sys.path.insert(0, str(TOOLS / "python"))
    return importlib.import_module("yaml")


def helm_template(*values: Path, **set_values: str) -> list[Manifest]:
    """The chart's manifests, hooks included, with these values files and `--set`s."""
    command = [str(tool("helm")), "template", "podium", str(CHART), "--namespace", "podium"]
    command += [f"--values={path}" for path in values]
    command += [f"--set={key}={value}" for key, value in set_values.items()]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml_module().safe_load_all(out) if doc]


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
