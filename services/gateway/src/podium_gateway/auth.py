"""Who calls: the API key in `Authorization: Bearer …` names the caller's tenant and name.

When keys are not required (a gateway that listens on loopback only, by default), every
caller is the open caller: it sees every tenant's goals and submits to tenant `default`.

What belongs to every tenant at once — the dead letters, which hold any tenant's records,
their re-drive, and the workers — takes an operator: an operator key, or the open caller.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from podium_common.apikeys import ApiKey
from podium_gateway.limits import KeyLimit
from podium_gateway.models import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="podium"'}


@dataclass(frozen=True)
class Caller:
    # None: the open caller, of no tenant and every tenant.
    tenant: str | None = None
    name: str | None = None
    key_id: str | None = None
    operator: bool = False

    def sees(self, goal: Mapping[str, Any]) -> bool:
        return self.tenant is None or goal["tenant"] == self.tenant

    def operates(self, what: str) -> None:
        """403 unless the caller is an operator; `what` names what it asked for."""
        if not self.operator:
            message = (
                f"{what} belong to every tenant: this needs an operator's key "
                "(`podium keys create --operator`)"
            )
            raise ApiError(403, "forbidden", message)


OPEN = Caller(operator=True)


class KeyStore(Protocol):
    async def api_key(self, token: str) -> ApiKey | None: ...


def on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Auth:
    def __init__(self, required: bool, keys: KeyStore, limit: KeyLimit) -> None:
        self.required = required
        self.keys = keys
        self.limit = limit

    async def caller(self, request: Request) -> Caller:
        """The key's caller; 401 without a key, or with one unknown or revoked; 429 once the
        key has spent its requests of the minute."""
        if not self.required:
            return OPEN
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = "this gateway requires an API key: send `Authorization: Bearer <key>`"
            raise ApiError(401, "unauthorized", message, headers=_CHALLENGE)
        key = await self.keys.api_key(token.strip())
        if key is None:
            message = "the API key is not valid (unknown, malformed or revoked)"
            raise ApiError(401, "unauthorized", message, headers=_CHALLENGE)
        await self.limit.spend(key.key_id)
        return Caller(tenant=key.tenant, name=key.name, key_id=key.key_id, operator=key.operator)
