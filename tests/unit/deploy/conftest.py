"""Fixtures for the deploy checks: the chart rendered by `helm template` and the Compose
file as `docker compose config` resolves it, parsed into plain data.

The tools come from `make deploy-tools` (into ~/.cache/podium/deploy-tools, or
$PODIUM_DEPLOY_TOOLS): without them these tests fail and say so; they never skip.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.unit.deploy.tools import CHART, REPO, TOOLS, Manifest, tool


@pytest.fixture(scope="session")
def yaml() -> ModuleType:
    """PyYAML, installed beside the tools (the workspace itself needs no YAML parser)."""
    tool("helm")
    sys.path.insert(0, str(TOOLS / "python"))
    return importlib.import_module("yaml")


@pytest.fixture(scope="session")
def render(yaml: ModuleType) -> Callable[..., list[Manifest]]:
    """`render(*values_files, **set_values)`: the chart's manifests, hooks included."""
    helm = tool("helm")

    def run(*values: str, **set_values: str) -> list[Manifest]:
        command = [str(helm), "template", "podium", str(CHART), "--namespace", "podium"]
        command += [f"--values={CHART / name}" for name in values]
        command += [f"--set={key}={value}" for key, value in set_values.items()]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return run


@pytest.fixture(scope="session")
def compose() -> Callable[..., Manifest]:
    """`compose(**env)`: docker-compose.yml as `docker compose config` resolves it."""
    binary = tool("docker-compose")

    def run(**env: str) -> Manifest:
        command = [str(binary), "--file", str(REPO / "docker-compose.yml")]
        command += ["config", "--format", "json"]
        environment = {"PATH": os.environ.get("PATH", ""), **env}
        out = subprocess.run(
            command, check=True, capture_output=True, text=True, env=environment, cwd=REPO
        ).stdout
        config: Manifest = json.loads(out)
        return config

    return run
