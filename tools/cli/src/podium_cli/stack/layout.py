"""Where the local stack keeps its files: the checkout, `.dev/` and the download cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from podium_cli.settings import CliSettings
from podium_common.errors import ConfigError

POM = Path("infra") / "kafka" / "pom.xml"


def find_checkout(start: Path) -> Path:
    """The Podium checkout that holds `start` (the folder with `infra/kafka/pom.xml`)."""
    for folder in (start, *start.parents):
        if (folder / POM).is_file():
            return folder
    raise ConfigError(
        "not inside a Podium checkout (no infra/kafka/pom.xml above here); "
        "run podium from the repository",
        cwd=start,
    )


@dataclass(frozen=True)
class Layout:
    """Every path the stack reads or writes."""

    checkout: Path
    state: Path
    cache: Path

    @classmethod
    def of(cls, settings: CliSettings, cwd: Path | None = None) -> Layout:
        checkout = find_checkout((cwd or Path.cwd()).resolve())
        state = settings.dev.state_dir or checkout / ".dev"
        return cls(checkout=checkout, state=state.resolve(), cache=settings.cache_dir)

    @property
    def pom(self) -> Path:
        return self.checkout / POM

    @property
    def run(self) -> Path:
        """Pidfiles and the stack's record of how it was started."""
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def kafka(self) -> Path:
        return self.state / "kafka"

    @property
    def postgres(self) -> Path:
        return self.state / "postgres"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def restarts(self, name: str) -> Path:
        """Where a service's keeper counts its restarts."""
        return self.run / f"{name}.restarts"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def make_dirs(self) -> None:
        for folder in (self.run, self.logs, self.kafka, self.postgres):
            folder.mkdir(parents=True, exist_ok=True)
