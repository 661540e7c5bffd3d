"""What the shared Dockerfile assumes of the workspace: each image's package is
`podium-<SERVICE>` with the console script `podium-<SERVICE>` (the CLI's: `podium`), and
everything it copies is in the build context .dockerignore lets through."""

from __future__ import annotations

import re
from importlib.metadata import distribution

import pytest

from tests.unit.deploy.settings_names import folders
from tests.unit.deploy.tools import REPO


@pytest.mark.parametrize("service", [*folders(), "cli", "scripted-llm"])
def test_each_image_package_has_the_console_script_the_dockerfile_runs(service: str) -> None:
    scripts = [
        entry.name
        for entry in distribution(f"podium-{service}").entry_points
        if entry.group == "console_scripts"
    ]
    assert scripts == ["podium" if service == "cli" else f"podium-{service}"]


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    copied = {
        source.rstrip("/")
        for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE)
        for source in sources.split()
    }
    copied |= set(re.findall(r"--mount=type=bind,source=(\S+),", dockerfile))
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied == allowed
