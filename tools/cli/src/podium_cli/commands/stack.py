"""`podium up`, `down`, `status` and `test-env`: the local stack."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from podium_cli.errors import StackError
from podium_cli.settings import CliSettings
from podium_cli.stack import apicurio
from podium_cli.stack.control import Stack
from podium_cli.stack.kafka import fetch_jars
from podium_cli.stack.layout import Layout
from podium_cli.stack.local_llm import LocalLLM
from podium_cli.stack.postgres import SUPERUSER
from podium_cli.stack.zipkin import fetch_jar as fetch_zipkin


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser("up", help="start Kafka, PostgreSQL, the LLM and every service")
    up.add_argument(
        "--infra", action="store_true", help="only Kafka, PostgreSQL, topics and migrations"
    )
    up.add_argument(
        "--tracing",
        action="store_true",
        help="also a Zipkin server (UI at :9411/zipkin/) the services send their spans to",
    )
    up.add_argument(
        "--registry",
        action="store_true",
        help="also a schema registry (Apicurio, :8085): events in the Confluent wire format",
    )
    up.set_defaults(func=cmd_up)
    down = commands.add_parser("down", help="stop everything `podium up` started")
    down.set_defaults(func=cmd_down)
    status = commands.add_parser("status", help="what runs, where")
    status.set_defaults(func=cmd_status)
    fetch = commands.add_parser("fetch", help="fetch the Kafka jars from Maven Central (once)")
    fetch.add_argument(
        "--llm",
        action="store_true",
        help="also build the local model server and fetch its model (PODIUM_LOCAL_MODEL), once",
    )
    fetch.add_argument(
        "--tracing", action="store_true", help="also the Zipkin server's jar (`up --tracing`)"
    )
    fetch.add_argument(
        "--registry",
        action="store_true",
        help="also Apicurio Registry and Java 21 (`up --registry`)",
    )
    fetch.set_defaults(func=cmd_fetch)
    exports = commands.add_parser(
        "test-env", help="print shell exports telling the tests where Kafka and PostgreSQL are"
    )
    exports.set_defaults(func=cmd_test_env)


def stack(*, tracing: bool = False, registry: bool = False) -> Stack:
    settings = CliSettings()
    asked = {"tracing": True} if tracing else {}
    asked |= {"registry": True} if registry else {}
    if asked:
        settings = settings.model_copy(update={"dev": settings.dev.model_copy(update=asked)})
    return Stack(settings, Layout.of(settings))


def cmd_up(args: argparse.Namespace) -> int:
    try:
        took = stack(tracing=args.tracing, registry=args.registry).up(infra_only=args.infra)
    except StackError as error:
        hint = "`podium status` shows what runs; `podium down` stops it"
        raise StackError(f"{error.message}\n{hint}", **error.context) from error
    print(f"ready in {took:.1f}s" + (" (infrastructure only)" if args.infra else ""))
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    stopped = stack().down()
    print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    rows = stack().status()
    for name, state, detail in rows:
        print(f"{name:<20} {state:<28} {detail}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    settings = CliSettings()
    layout = Layout.of(settings)
    jars = fetch_jars(layout)
    print(f"kafka jars   {jars} ({len(list(jars.glob('*.jar')))} jars)")
    if args.tracing:
        print(f"zipkin jar   {fetch_zipkin(layout)}")
    if args.registry:
        print(f"registry     {apicurio.fetch_app(layout)}, java {apicurio.find_java21(layout)}")
    if args.llm:
        local = LocalLLM(settings, layout)
        local.prepare()
        print(f"local model  {local.weights}, served by {local.venv}")
    return 0


def env_for_tests(settings: CliSettings, environ: dict[str, str]) -> dict[str, str]:
    """Where the tests find Kafka and PostgreSQL: the caller's choice, else the stack's."""
    bootstrap = environ.get("PODIUM_TEST_BOOTSTRAP") or settings.bootstrap_servers
    admin = f"postgresql://{SUPERUSER}@127.0.0.1:{settings.dev.pg_port}/postgres"
    if settings.external_postgres:
        admin = settings.postgres_dsn
    return {
        "PODIUM_TEST_BOOTSTRAP": bootstrap,
        "PODIUM_TEST_PG_DSN": environ.get("PODIUM_TEST_PG_DSN") or admin,
    }


def cmd_test_env(_: argparse.Namespace) -> int:
    for name, value in env_for_tests(CliSettings(), dict(os.environ)).items():
        sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
    return 0
