"""What the local stack's Java HTTP servers (the trace backend, the schema registry) share:
one `java -jar` process on the loopback, its pidfile and log under the layout's state, ready
when an HTTP check answers 200, stopped by its pid.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx

from podium_cli.stack import processes
from podium_cli.stack.layout import Layout

JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


@dataclass(frozen=True)
class JarServer(ABC):
    """A Java server on `port`: a subclass names it and says how it is fetched, configured
    and checked."""

    layout: Layout
    port: int
    stop_timeout_s: float = 20.0

    name: ClassVar[str]  # its pidfile's and log's name
    title: ClassVar[str]  # what messages call it
    port_setting: ClassVar[str]  # the setting that moves it to another port
    command_marker: ClassVar[str]  # what its command line holds, to tell it from a reused pid

    @abstractmethod
    def java(self) -> str:
        """The Java runtime to run it with."""

    @abstractmethod
    def jar(self) -> Path:
        """Its jar, fetched the first time."""

    @abstractmethod
    def environment(self) -> dict[str, str]:
        """Its configuration, as environment variables."""

    @property
    @abstractmethod
    def health_url(self) -> str:
        """What answers 200 once it serves."""

    @property
    def pidfile(self) -> Path:
        return self.layout.pidfile(self.name)

    @property
    def log(self) -> Path:
        return self.layout.log(self.name)

    def pid(self) -> int | None:
        return processes.running_pid(self.pidfile, self.command_marker)

    def start(self) -> subprocess.Popen[bytes] | None:
        """Starts the server unless it runs; returns the new process, or None if it ran."""
        if self.pid() is not None:
            return None
        processes.refuse_foreign_port(self.port, self.title, self.port_setting)
        java, jar = self.java(), self.jar()
        env = {"PATH": "/usr/bin:/bin", **self.environment()}
        return processes.spawn(
            [java, *JVM_OPTIONS, "-jar", str(jar)], log=self.log, pidfile=self.pidfile, env=env
        )

    def ready(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, spawned: subprocess.Popen[bytes] | None, timeout_s: float) -> float:
        return processes.wait_until(
            self.ready, what=self.name, timeout_s=timeout_s, log=self.log, process=spawned
        )

    def stop(self) -> bool:
        """Stops the server if it runs; True if it did."""
        pid = self.pid()
        if pid is None:
            return False
        if processes.terminate(pid, self.stop_timeout_s):
            print(f"  the {self.title} did not stop within {self.stop_timeout_s:.0f}s: killed")
        self.pidfile.unlink(missing_ok=True)
        return True
