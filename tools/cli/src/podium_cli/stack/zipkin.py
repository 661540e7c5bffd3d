"""The local stack's trace backend: the Zipkin server, one executable jar from Maven Central
(`infra/zipkin/pom.xml` pins it), fetched once into `<cache>/zipkin-<version>/`, spans kept
in memory. It takes spans at `/api/v2/spans` (the services' `OTEL_TRACES_EXPORTER=zipkin`),
answers `/api/v2/trace/{id}` and serves its UI at `/zipkin/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from podium_cli.stack import maven
from podium_cli.stack.jar_server import JarServer
from podium_cli.stack.kafka import find_java
from podium_cli.stack.layout import Layout

NAME = "zipkin"
POM = Path("infra") / "zipkin" / "pom.xml"
# Spans kept in memory: the oldest traces go first past this.
MAX_SPANS = 200_000


def fetch_jar(layout: Layout) -> Path:
    """The server's executable jar, fetched through Maven the first time."""
    pom = layout.checkout / POM
    version = maven.pinned(pom, "zipkin.version")
    target = layout.cache / f"zipkin-{version}"
    maven.fetch(pom, target, what="the Zipkin server", expect="zipkin-server-*-exec.jar")
    return next(target.glob("zipkin-server-*-exec.jar"))


def trace_link(port: int) -> str:
    """Where the Zipkin UI on `port` shows a trace: `{trace_id}` is filled in."""
    return f"http://127.0.0.1:{port}/zipkin/traces/{{trace_id}}"


def tracing_env(port: int) -> dict[str, str]:
    """What a service needs to send its spans to the Zipkin on `port`."""
    return {
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"http://127.0.0.1:{port}/api/v2/spans",
    }


@dataclass(frozen=True)
class Zipkin(JarServer):
    """A Zipkin server on the loopback, spans in memory."""

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "Zipkin server"
    port_setting: ClassVar[str] = "PODIUM_DEV__ZIPKIN_PORT"
    command_marker: ClassVar[str] = "zipkin-server"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/health"

    def java(self) -> str:
        return find_java()

    def jar(self) -> Path:
        return fetch_jar(self.layout)

    def environment(self) -> dict[str, str]:
        return {
            "STORAGE_TYPE": "mem",
            "QUERY_PORT": str(self.port),
            "MEM_MAX_SPANS": str(MAX_SPANS),
        }
