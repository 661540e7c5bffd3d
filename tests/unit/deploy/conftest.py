"""Fixtures for the deploy checks: the chart rendered by `helm template` and the Compose
file as `docker compose config` resolves it, parsed into plain data.

The tools come from `make deploy-tools` (into ~/.cache/podium/deploy-tools, or
$PODIUM_DEPLOY_TOOLS): without them these tests fail and say so; they never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.unit.deploy.tools import CHART, REPO, Manifest, helm_template, tool, yaml_module


@pytest.fixture(scope="session")
def yaml() -> ModuleType:
    """PyYAML, installed beside the tools (the workspace itself needs no YAML parser)."""
    return yaml_module()


@pytest.fixture(scope="session")
def render() -> Callable[..., list[Manifest]]:
    """`render(*values_files, **set_values)`: the chart's manifests, hooks included; values
    files are named relative to the chart."""

    def run(*values: str, **set_values: str) -> list[Manifest]:
        return helm_template(*(CHART / name for name in values), **set_values)

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
