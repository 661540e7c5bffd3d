"""`podium schemas register` and `podium schemas check`: the events' schemas in a registry
at deploy time, and the compatibility gate of `make schema-check`."""

from __future__ import annotations

import argparse

from podium_cli.schema_check import check
from podium_cli.settings import CliSettings
from podium_common.avro import schemas_dir
from podium_common.errors import ConfigError
from podium_common.subjects import register_all


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schemas = commands.add_parser("schemas", help="the events' Avro schemas")
    verbs = schemas.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser(
        "register",
        help="register every event's newest schema under its subjects in the registry that "
        "PODIUM_SCHEMA_REGISTRY__URL names (topic prefix: PODIUM_KAFKA__TOPIC_PREFIX)",
    )
    add.set_defaults(func=cmd_register)
    gate = verbs.add_parser(
        "check",
        help="prove every schema under schemas/ BACKWARD_TRANSITIVE compatible with every "
        "earlier version kept there",
    )
    gate.set_defaults(func=cmd_check)


def cmd_register(_: argparse.Namespace) -> int:
    settings = CliSettings()
    registry = settings.schema_registry
    if registry.url is None:
        raise ConfigError("set PODIUM_SCHEMA_REGISTRY__URL to the registry to register in")
    ids = register_all(registry, settings.kafka.topics)
    for name, schema_id in sorted(ids.items()):
        print(f"{schema_id:>6}  {name}")
    print(f"{len(ids)} subjects registered in {registry.url}")
    return 0


def cmd_check(_: argparse.Namespace) -> int:
    found = check(schemas_dir())
    for line in found.report:
        print(line)
    print(f"{found.checked} pairs checked, {len(found.failures)} incompatible")
    return 1 if found.failures else 0
