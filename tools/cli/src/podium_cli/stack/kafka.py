"""A single-node Apache Kafka broker in KRaft mode, run from the jars on Maven Central.

The jars are fetched once through Maven (`infra/kafka/pom.xml` pins the version) into
`<cache>/kafka-<version>/`; the broker's config and data live under `.dev/kafka/`.
Clients speak PLAINTEXT to it, or, given a `SaslSsl`, only TLS with SASL/SCRAM; the
controller keeps a listener of its own either way.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr

from podium_cli.errors import StackError
from podium_cli.settings import DevSettings
from podium_cli.stack import maven, processes
from podium_cli.stack.layout import Layout
from podium_common.settings import KafkaSettings

NAME = "kafka"
MAIN_CLASS = "kafka.Kafka"
JAVA_MAJOR = 17
# The garbage collector Kafka's own scripts choose, with their pause goal: a stop-the-world
# collector held every client of the broker for tens of milliseconds several times a
# minute under load, which is most of a goal's latency budget at the tail.
JVM_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
# The C1 compiler alone starts the broker in about half the time (development, tests).
JIT_OPTIONS = {"quick-start": ("-XX:TieredStopAtLevel=1",), "throughput": ()}

LOG4J = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.lifecycle.name = org.apache.kafka.server.BrokerLifecycleManager
logger.lifecycle.level = INFO
"""


def kafka_version(pom: Path) -> str:
    """The Kafka version the pom pins (its `kafka.version` property)."""
    return maven.pinned(pom, "kafka.version")


def jars_dir(layout: Layout) -> Path:
    return layout.cache / f"kafka-{kafka_version(layout.pom)}"


def fetch_jars(layout: Layout) -> Path:
    """The broker's jars, fetched through Maven the first time; a partial fetch never counts."""
    return maven.fetch(layout.pom, jars_dir(layout), what="the Kafka jars", expect="kafka_*.jar")


@dataclass(frozen=True)
class SaslSsl:
    """A client listener that takes only TLS with SASL/SCRAM-SHA-512. Its one user is made
    when the storage is formatted, and the broker speaks to itself as that user too.

    `keystore`: PEM, the broker's private key (PKCS#8, unencrypted) then its certificate
    chain; `truststore`: PEM, the CA that signed it. The password must not hold `,` or `]`
    (the format tool's `--add-scram` syntax), nor `"` (the JAAS line's)."""

    keystore: Path
    truststore: Path
    username: str
    password: SecretStr

    MECHANISM: ClassVar[str] = "SCRAM-SHA-512"
    PROTOCOL: ClassVar[str] = "SASL_SSL"

    def properties(self) -> dict[str, str]:
        password = self.password.get_secret_value()
        login = "org.apache.kafka.common.security.scram.ScramLoginModule"
        listener = f"listener.name.{self.PROTOCOL.lower()}.{self.MECHANISM.lower()}"
        return {
            "sasl.enabled.mechanisms": self.MECHANISM,
            "sasl.mechanism.inter.broker.protocol": self.MECHANISM,
            f"{listener}.sasl.jaas.config": (
                f'{login} required username="{self.username}" password="{password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.truststore),
        }

    def format_options(self) -> list[str]:
        """The storage format tool's options that make the user."""
        password = self.password.get_secret_value()
        return ["--add-scram", f"{self.MECHANISM}=[name={self.username},password={password}]"]

    def client(self, bootstrap_servers: str) -> KafkaSettings:
        """What a Podium client needs to reach the listener as this user."""
        return KafkaSettings(
            bootstrap_servers=bootstrap_servers,
            security_protocol=self.PROTOCOL,
            sasl_mechanism=self.MECHANISM,
            sasl_username=self.username,
            sasl_password=self.password,
            ssl_cafile=str(self.truststore),
        )


def server_properties(
    dev: DevSettings, data: Path, partitions: int, sasl_ssl: SaslSsl | None = None
) -> str:
    port, controller = dev.kafka_port, dev.controller_port
    client = SaslSsl.PROTOCOL if sasl_ssl else "PLAINTEXT"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "listeners": f"{client}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"{client}://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "listener.security.protocol.map": f"{client}:{client},CONTROLLER:PLAINTEXT",
        **(sasl_ssl.properties() if sasl_ssl else {}),
        "log.dirs": str(data),
        "num.partitions": str(partitions),
        # Topics are created by `podium up` with the partition counts the join needs.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # A single-node broker has nobody to wait for: consumers join at once.
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, base64url without padding, never starting with
    `-` (a command line would take it for an option; Kafka's own generator avoids it too)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not found.startswith("-"):
            return found


class Kafka:
    """The stack's broker: `.dev/kafka/server.properties`, data in `.dev/kafka/data`."""

    def __init__(
        self, layout: Layout, dev: DevSettings, partitions: int, sasl_ssl: SaslSsl | None = None
    ) -> None:
        self.layout, self.dev, self.partitions = layout, dev, partitions
        self.sasl_ssl = sasl_ssl
        self.config = layout.kafka / "server.properties"
        self.data = layout.kafka / "data"
        self.pidfile = layout.pidfile(NAME)
        self.log = layout.log(NAME)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.dev.kafka_port}"

    def client(self) -> KafkaSettings:
        """What a Podium client needs to reach the broker."""
        if self.sasl_ssl is None:
            return KafkaSettings(bootstrap_servers=self.address)
        return self.sasl_ssl.client(self.address)

    def _properties(self) -> str:
        return server_properties(self.dev, self.data, self.partitions, self.sasl_ssl)

    def pid(self) -> int | None:
        return processes.running_pid(self.pidfile, str(self.config))

    def start(self) -> subprocess.Popen[bytes] | None:
        """Starts the broker unless it runs; returns the new process, or None if it ran."""
        if self.pid() is not None:
            self._refuse_moved_ports()
            return None
        processes.refuse_foreign_port(self.dev.kafka_port, "Kafka broker", "PODIUM_DEV__KAFKA_PORT")
        processes.refuse_foreign_port(
            self.dev.controller_port, "Kafka controller", "PODIUM_DEV__CONTROLLER_PORT"
        )
        java = find_java()
        jars = fetch_jars(self.layout)
        self.layout.kafka.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._properties())
        log4j = self.layout.kafka / "log4j2.properties"
        log4j.write_text(LOG4J)
        classpath = ["-cp", f"{jars}/*", f"-Dlog4j2.configurationFile={log4j}"]
        if not (self.data / "meta.properties").is_file():
            self._format(java, classpath)
        heap = self.dev.kafka_heap_mb
        argv = [
            java,
            f"-Xmx{heap}m",
            f"-Xms{min(heap, 256)}m",
            *JVM_OPTIONS,
            *JIT_OPTIONS[self.dev.kafka_jit],
        ]
        return processes.spawn(
            [*argv, *classpath, MAIN_CLASS, str(self.config)], log=self.log, pidfile=self.pidfile
        )

    def _refuse_moved_ports(self) -> None:
        config = self._properties().splitlines()
        wanted = next(line for line in config if line.startswith("listeners="))
        if wanted not in self.config.read_text().splitlines():
            raise StackError(
                f"kafka runs with other ports than PODIUM_DEV__KAFKA_PORT/CONTROLLER_PORT say "
                f"now ({wanted}); run `podium down` first to move it"
            )

    def _format(self, java: str, classpath: list[str]) -> None:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [
                java,
                *classpath,
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                cluster_id(),
                "-c",
                str(self.config),
                *(self.sasl_ssl.format_options() if self.sasl_ssl else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"formatting {self.data} failed:\n{done.stdout}{done.stderr}")

    def wait_ready(self, spawned: subprocess.Popen[bytes] | None, timeout_s: float) -> float:
        """Waits until the client listener takes connections; returns the seconds waited."""
        return processes.wait_until(
            lambda: processes.port_open(self.dev.kafka_port),
            what=NAME,
            timeout_s=timeout_s,
            log=self.log,
            process=spawned,
        )

    def stop(self) -> bool:
        """Stops the broker if it runs; True if it did."""
        pid = self.pid()
        if pid is None:
            return False
        if processes.terminate(pid, self.dev.stop_timeout_s):
            print(f"  kafka did not stop within {self.dev.stop_timeout_s:.0f}s: killed")
        self.pidfile.unlink(missing_ok=True)
        return True


def find_java() -> str:
    """The `java` on PATH, if it is Java 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            f"Java {JAVA_MAJOR}+ is needed to run Kafka; install it "
            "(Debian: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)"
        )
    shown = subprocess.run(  # noqa: S603 - fixed argv
        [java, "-version"], capture_output=True, text=True, check=False
    ).stderr
    found = re.search(r'version "(\d+)', shown)
    if found is None or int(found.group(1)) < JAVA_MAJOR:
        raise StackError(f"Kafka needs Java {JAVA_MAJOR}+, but {java} says: {shown.strip()}")
    return java
