"""The local stack's trace backend: the Zipkin server, one executable jar from Maven Central
(`infra/zipkin/pom.xml` pins it), fetched once into `<cache>/zipkin-<version>/`, spans kept
in memory. It takes spans at `/api/v2/spans` (the services' `OTEL_TRACES_EXPORTER=zipkin`),
answers `/api/v2/trace/{id}` and serves its UI at `/zipkin/`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from podium_cli.stack import maven, processes
from podium_cli.stack.kafka import find_java
from podium_cli.stack.layout import Layout

NAME = "zipkin"
POM = Path("infra") / "zipkin" / "pom.xml"
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
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
class Zipkin:
    """A Zipkin server on the loopback, its pidfile and log under the layout's state."""

    layout: Layout
    port: int
    stop_timeout_s: float = 20.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.layout.pidfile(NAME)

    @property
    def log(self) -> Path:
        return self.layout.log(NAME)

    def pid(self) -> int | None:
        return processes.running_pid(self.pidfile, "zipkin-server")

    def start(self) -> subprocess.Popen[bytes] | None:
        """Starts the server unless it runs; returns the new process, or None if it ran."""
        if self.pid() is not None:
            return None
        processes.refuse_foreign_port(self.port, "Zipkin server", "PODIUM_DEV__ZIPKIN_PORT")
        java, jar = find_java(), fetch_jar(self.layout)
        env = {"PATH": "/usr/bin:/bin", "STORAGE_TYPE": "mem", "QUERY_PORT": str(self.port)}
        env["MEM_MAX_SPANS"] = str(MAX_SPANS)
        return processes.spawn(
            [java, *JVM_OPTIONS, "-jar", str(jar)], log=self.log, pidfile=self.pidfile, env=env
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, spawned: subprocess.Popen[bytes] | None, timeout_s: float) -> float:
        return processes.wait_until(
            self.ready, what=NAME, timeout_s=timeout_s, log=self.log, process=spawned
        )

    def stop(self) -> bool:
        """Stops the server if it runs; True if it did."""
        pid = self.pid()
        if pid is None:
            return False
        if processes.terminate(pid, self.stop_timeout_s):
            print(f"  zipkin did not stop within {self.stop_timeout_s:.0f}s: killed")
        self.pidfile.unlink(missing_ok=True)
        return True
