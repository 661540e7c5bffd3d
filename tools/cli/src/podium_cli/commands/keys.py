"""`podium keys create|list|revoke`: the gateway's API keys, in Podium's database."""

from __future__ import annotations

import argparse
import sys

from podium_cli.database import with_connection
from podium_cli.errors import CommandError
from podium_common import apikeys


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys",
        help="create, list and revoke the gateway's API keys",
        description="Keys live in Podium's database (PODIUM_POSTGRES__DSN), stored hashed.",
    )
    verbs = keys.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser("create", help="a new key for a tenant; printed once, on stdout")
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--name", default="", help="who or what holds it (the submitter)")
    create.add_argument(
        "--operator",
        action="store_true",
        help="also reaches every tenant's dead letters (list, re-drive) and the workers",
    )
    create.set_defaults(func=cmd_create)
    listing = verbs.add_parser("list", help="every key (never a secret), or one tenant's")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.set_defaults(func=cmd_list)
    revoke = verbs.add_parser("revoke", help="revoke a key: the gateway refuses it at once")
    revoke.add_argument("key_id", help="the key's id, as `podium keys list` shows it")
    revoke.set_defaults(func=cmd_revoke)


def _name(text: str, what: str) -> str:
    text = text.strip()
    if not text or len(text) > 200 or "\x00" in text:
        raise CommandError(f"{what} must be 1 to 200 characters, without NUL: {text[:40]!r}")
    return text


def cmd_create(args: argparse.Namespace) -> int:
    tenant = _name(args.tenant, "--tenant")
    name = _name(args.name or tenant, "--name")
    token, key = with_connection(
        lambda connection: apikeys.create(connection, tenant, name, operator=args.operator)
    )
    role = ", an operator's" if key.operator else ""
    print(
        f"created key {key.key_id} for tenant {key.tenant} ({key.name}{role}); it is shown once:",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    keys = with_connection(lambda connection: apikeys.listed(connection, args.tenant))
    print(f"{'KEY ID':<14} {'TENANT':<20} {'NAME':<20} {'ROLE':<9} {'CREATED':<20} REVOKED")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        role = "operator" if key.operator else "tenant"
        print(f"{key.key_id:<14} {key.tenant:<20} {key.name:<20} {role:<9} {created:<20} {revoked}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    revoked = with_connection(lambda connection: apikeys.revoke(connection, args.key_id))
    if revoked is None:
        raise CommandError(f"no key {args.key_id!r}; `podium keys list` shows them")
    print(f"revoked key {args.key_id} (since {revoked.isoformat()})")
    return 0
