"""`podium up`, `down` and `status`: the local stack as a whole, in dependency order.

up: Kafka → PostgreSQL → topics, database and migrations → the LLM → services → ready.
The LLM is the configured endpoint, else the local model server (built and fetched on first
use), else, when asked for (`PODIUM_LLM__SCRIPTED`) or when the local model cannot be had,
the scripted test LLM, announced loudly.
Every step is idempotent: what runs already is left alone, so `up` twice is harmless.
"""

from __future__ import annotations

import asyncio
import json
import time

from podium_cli.errors import StackError
from podium_cli.settings import CliSettings
from podium_cli.stack.apicurio import Apicurio
from podium_cli.stack.kafka import Kafka
from podium_cli.stack.layout import Layout
from podium_cli.stack.local_llm import LocalLLM, LocalModelUnavailable
from podium_cli.stack.postgres import Postgres
from podium_cli.stack.prepare import prepare
from podium_cli.stack.services import Process, Runner, processes_of, scripted_llm
from podium_cli.stack.zipkin import Zipkin
from podium_common.settings import SchemaRegistrySettings
from podium_common.subjects import register_all

SCRIPTED_BANNER = """\
################################################################################
##  The stack answers with Podium's SCRIPTED TEST LLM at {url}:
##  every answer is canned text made up from the prompt, NOT FROM A MODEL.
##  For real answers unset PODIUM_LLM__SCRIPTED (a local model is served) or set
##  PODIUM_LLM__BASE_URL (and PODIUM_LLM__API_KEY); then `podium down` and up again.
################################################################################"""
NO_LOCAL_MODEL = """\
################################################################################
##  THE LOCAL MODEL COULD NOT BE HAD: {reason}
##  Falling back to the scripted test LLM.
################################################################################"""


class Stack:
    """The local stack under one layout and one set of settings."""

    def __init__(self, settings: CliSettings, layout: Layout) -> None:
        self.settings, self.layout = settings, layout
        partitions = settings.kafka.partitions
        self.kafka = None if settings.external_kafka else Kafka(layout, settings.dev, partitions)
        self.postgres = None if settings.external_postgres else Postgres(layout, settings.dev)
        self.runner = Runner(layout, settings)
        dev = settings.dev
        self.zipkin = Zipkin(layout, dev.zipkin_port, dev.stop_timeout_s)
        self.registry = Apicurio(layout, dev.registry_port, dev.stop_timeout_s)

    def up(self, *, infra_only: bool) -> float:
        """Brings the stack up and waits until it is ready; returns the seconds it took."""
        started = time.monotonic()
        self.layout.make_dirs()
        self._kafka_up()
        self._postgres_up()
        admin_dsn = self.postgres.admin_dsn if self.postgres else None
        asyncio.run(prepare(self.settings, admin_dsn, self.settings.dev.ready_timeout_s))
        if not infra_only:
            if self.settings.dev.tracing:
                self._zipkin_up()
            if self.settings.dev.registry:
                self._registry_up()
            self._llm_up()
            self._services_up()
        return time.monotonic() - started

    def _kafka_up(self) -> None:
        if self.kafka is None:
            print(f"kafka        external at {self.settings.bootstrap_servers}")
            return
        spawned = self.kafka.start()
        waited = self.kafka.wait_ready(spawned, self.settings.dev.ready_timeout_s)
        state = "started" if spawned else "running"
        print(f"kafka        {state} at {self.kafka.address} ({waited:.1f}s)  log {self.kafka.log}")

    def _postgres_up(self) -> None:
        if self.postgres is None:
            print("postgres     external (PODIUM_POSTGRES__DSN)")
            return
        begun = time.monotonic()
        state = "started" if self.postgres.start() else "running"
        waited = time.monotonic() - begun
        address = f"127.0.0.1:{self.settings.dev.pg_port}"
        print(f"postgres     {state} at {address} ({waited:.1f}s)  log {self.postgres.log}")

    def _zipkin_up(self) -> None:
        spawned = self.zipkin.start()
        waited = self.zipkin.wait_ready(spawned, self.settings.dev.ready_timeout_s)
        state = "started" if spawned else "running"
        print(f"zipkin       {state} at {self.zipkin.url}/zipkin/ ({waited:.1f}s)")

    def _registry_up(self) -> None:
        spawned = self.registry.start()
        waited = self.registry.wait_ready(spawned, self.settings.dev.ready_timeout_s)
        state = "started" if spawned else "running"
        print(f"registry     {state} at {self.registry.url} ({waited:.1f}s)")
        where = SchemaRegistrySettings(url=self.registry.url)
        registered = register_all(where, self.settings.kafka.topics)
        print(f"registry     {len(registered)} subjects registered")

    def _llm_up(self) -> None:
        self._refuse_llm_switch()
        if self.settings.external_llm:
            print(f"llm          {self.settings.llm.base_url}")
            self._record(scripted=False)
            return
        if self.settings.llm_kind == "local":
            try:
                self._local_llm_up()
                return
            except LocalModelUnavailable as error:
                print(NO_LOCAL_MODEL.format(reason=error.message))
                self._use_scripted_llm()
        llm = scripted_llm(self.settings)
        spawned = self.runner.start(llm)
        self.runner.wait_ready(llm, spawned)
        self._record(scripted=True)
        print(SCRIPTED_BANNER.format(url=self.settings.llm_base_url))

    def _local_llm_up(self) -> None:
        local = LocalLLM(self.settings, self.layout)
        local.prepare()
        server = local.process()
        spawned = self.runner.start(server)
        waited = self.runner.wait_ready(server, spawned)
        self._record(scripted=False)
        state = "started" if spawned else "running"
        print(
            f"llm          {state}: {local.model.describes}, local, at {self.settings.llm_base_url}"
            f" ({waited:.1f}s)  log {self.layout.log(server.instance)}"
        )

    def _use_scripted_llm(self) -> None:
        """From here on the stack is started as if PODIUM_LLM__SCRIPTED had been set."""
        llm = self.settings.llm.model_copy(update={"scripted": True})
        self.settings = self.settings.model_copy(update={"llm": llm})
        self.runner = Runner(self.layout, self.settings)

    def _refuse_llm_switch(self) -> None:
        """Services keep the LLM they started with: a different one needs `podium down`."""
        recorded = self.recorded_llm()
        wanted = self.llm_identity()
        if recorded is None or recorded.get("llm", recorded.get("llm_base_url")) == wanted:
            return
        if any(self.runner.pid(process) for process in processes_of(self.settings)):
            raise StackError(
                f"the running services use {recorded.get('llm')}, "
                f"not {wanted}; run `podium down` first to switch"
            )

    def llm_identity(self) -> str:
        """What tells one LLM of the stack from another: local and scripted share a port."""
        where = self.settings.llm_base_url
        return {
            "local": f"the local model {self.settings.local_model} at {where}",
            "scripted": f"the scripted LLM at {where}",
            "external": f"the LLM at {where}",
        }[self.settings.llm_kind]

    def _services_up(self) -> None:
        listed = processes_of(self.settings)
        spawned = {process.name: self.runner.start(process) for process in listed}
        for process in listed:
            waited = self.runner.wait_ready(process, spawned[process.name])
            state = "started" if spawned[process.name] else "running"
            print(f"{process.name:<20} {state}, ready ({waited:.1f}s)")
        print(f"gateway      {self.settings.gateway_url}")

    def _record(self, *, scripted: bool) -> None:
        record = {
            "llm_scripted": scripted,
            "llm_base_url": self.settings.llm_base_url,
            "llm": self.llm_identity(),
        }
        (self.layout.run / "stack.json").write_text(json.dumps(record) + "\n")

    def recorded_llm(self) -> dict[str, object] | None:
        """The LLM the running services were started with, as `up` recorded it."""
        try:
            record: dict[str, object] = json.loads((self.layout.run / "stack.json").read_text())
        except FileNotFoundError:
            return None
        return record

    def uses_scripted_llm(self) -> bool:
        """Whether the running services were started against the scripted LLM."""
        record = self.recorded_llm()
        return bool(record and record.get("llm_scripted"))

    def down(self) -> list[str]:
        """Stops every process of the stack that runs; returns their names."""
        stopped = []
        llms = [scripted_llm(self.settings), LocalLLM(self.settings, self.layout).process()]
        for process in reversed([*llms, *processes_of(self.settings)]):
            if self.runner.stop(process):
                stopped.append(process.name)
        if self.zipkin.stop():
            stopped.append("zipkin")
        if self.registry.stop():
            stopped.append("registry")
        if self.kafka is not None and self.kafka.stop():
            stopped.append("kafka")
        if self.postgres is not None and self.postgres.stop():
            stopped.append("postgres")
        (self.layout.run / "stack.json").unlink(missing_ok=True)
        return stopped

    def status(self) -> list[tuple[str, str, str]]:
        """(name, state, detail) for every part of the stack."""
        rows = []
        if self.kafka is None:
            rows.append(("kafka", "external", self.settings.bootstrap_servers))
        else:
            rows.append(("kafka", _state(self.kafka.pid()), self.kafka.address))
        if self.postgres is None:
            rows.append(("postgres", "external", "PODIUM_POSTGRES__DSN"))
        else:
            address = f"127.0.0.1:{self.settings.dev.pg_port}"
            rows.append(("postgres", _state(self.postgres.pid()), address))
        rows.append(("zipkin", _state(self.zipkin.pid()), f"{self.zipkin.url}/zipkin/"))
        rows.append(("registry", _state(self.registry.pid()), self.registry.url))
        for process in [self.llm_process(), *processes_of(self.settings)]:
            pid = self.runner.pid(process)
            ready = pid is not None and self.runner.ready(process)
            restarts = self.runner.restarts(process) if pid is not None else ""
            state = ", ".join(
                part for part in (_state(pid), "ready" if ready else "", restarts) if part
            )
            rows.append((process.name, state, f"127.0.0.1:{process.port}"))
        return rows

    def llm_process(self) -> Process:
        """The LLM process this stack runs when it runs one of its own."""
        scripted = scripted_llm(self.settings)
        if self.settings.llm_kind != "local" or self.runner.pid(scripted) is not None:
            return scripted
        return LocalLLM(self.settings, self.layout).process()


def _state(pid: int | None) -> str:
    return "stopped" if pid is None else f"running (pid {pid})"
