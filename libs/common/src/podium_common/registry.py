"""Schema ids from a Confluent-compatible schema registry, for the Confluent wire format.

A record in the Confluent wire format is `00`, the writer schema's 4-byte id (big-endian),
then the Avro binary body. Subjects are named by topic and record, as Confluent's
TopicRecordNameStrategy does (`results-podium.v1.TaskResult`), so one topic may carry
several event types. Registering and looking up go through Confluent's own client
(`confluent_kafka.schema_registry`), which caches both ways; Podium adds the naming, the
errors and which subjects exist. The client is synchronous: it blocks only the first time a
process writes a subject or reads an id, after which the answer is cached.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings

from podium_common.errors import PodiumError, Unavailable, UnknownSchema
from podium_common.settings import SchemaRegistrySettings, service_config

if TYPE_CHECKING:
    # Imported where a registry is configured: confluent-kafka's client and what it brings
    # (httpx2 too) cost every other process about 20 MB of memory at idle.
    from confluent_kafka.schema_registry.error import SchemaRegistryError

WIRE_MAGIC = b"\x00"
WIRE_HEADER_SIZE = 5
NOT_FOUND = 404
REQUEST_TIMEOUT_S = 10


class SchemaNotRegistered(Unavailable):
    """The registry has no such schema under the subject, and registering is off. Retried:
    the writer waits (nothing is lost) until `podium schemas register` has run."""

    kind = "schema_not_registered"


class RegistryRefused(PodiumError):
    """The registry refused a schema (e.g. incompatible with the subject's versions)."""

    kind = "registry_refused"


def subject(topic: str, schema: dict[str, Any]) -> str:
    """The subject of a record schema on a topic (TopicRecordNameStrategy)."""
    name = str(schema["name"])
    namespace = schema.get("namespace")
    fullname = name if "." in name or not namespace else f"{namespace}.{name}"
    return f"{topic}-{fullname}"


class _FromEnvironment(BaseSettings):
    model_config = service_config()

    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()


class Registry:
    """Schema ids by subject and schemas by id, from one registry."""

    def __init__(self, settings: SchemaRegistrySettings) -> None:
        if settings.url is None:
            raise ValueError("a schema registry needs PODIUM_SCHEMA_REGISTRY__URL")
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.url, self.auto_register = settings.url, settings.auto_register
        # A registry that does not answer must not hold a writer for ever: seconds per request.
        conf: dict[str, Any] = {"url": settings.url, "timeout": REQUEST_TIMEOUT_S}
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            conf["basic.auth.user.info"] = f"{settings.username}:{password}"
        if settings.ssl_cafile is not None:
            conf["ssl.ca.location"] = settings.ssl_cafile
        self.client = SchemaRegistryClient(conf)
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    @classmethod
    def from_environment(cls) -> Registry | None:
        """The registry `PODIUM_SCHEMA_REGISTRY__*` names, or None when no URL is set."""
        settings = _FromEnvironment().schema_registry
        return None if settings.url is None else cls(settings)

    def knows(self, name: str) -> bool:
        """Whether the id of subject `name` is known here, without asking the registry."""
        return name in self._ids

    def id_for(self, name: str, schema: dict[str, Any]) -> int:
        """The id of `schema` under subject `name`; registers it first if that is allowed."""
        found = self._ids.get(name)
        if found is not None:
            return found
        import httpx2
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        wanted = Schema(json.dumps(schema), "AVRO")
        try:
            if self.auto_register:
                found = self.client.register_schema(name, wanted)
            else:
                found = self.client.lookup_schema(name, wanted).schema_id
        except SchemaRegistryError as error:
            if error.http_status_code == NOT_FOUND and not self.auto_register:
                raise SchemaNotRegistered(
                    "the schema is not registered and PODIUM_SCHEMA_REGISTRY__AUTO_REGISTER "
                    "is off: run `podium schemas register`",
                    subject=name,
                    registry=self.url,
                ) from error
            raise self._failed(error, subject=name) from error
        except httpx2.TransportError as error:
            raise Unavailable(
                f"schema registry unreachable: {error!r}", registry=self.url
            ) from error
        if found is None:
            raise RegistryRefused("the registry gave no schema id", subject=name)
        self._ids[name] = found
        return found

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The writer schema with id `schema_id`, as JSON data."""
        found = self._schemas.get(schema_id)
        if found is not None:
            return found
        import httpx2
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            text = self.client.get_schema(schema_id).schema_str
        except SchemaRegistryError as error:
            if error.http_status_code == NOT_FOUND:
                raise UnknownSchema(
                    "no schema with this id in the registry", schema_id=schema_id, registry=self.url
                ) from error
            raise self._failed(error, schema_id=schema_id) from error
        except httpx2.TransportError as error:
            raise Unavailable(
                f"schema registry unreachable: {error!r}", registry=self.url
            ) from error
        if text is None:
            raise UnknownSchema("the registry gave an empty schema", schema_id=schema_id)
        found = json.loads(text)
        if not isinstance(found, dict):
            raise UnknownSchema("the registry's schema is no Avro record", schema_id=schema_id)
        self._schemas[schema_id] = found
        return found

    def close(self) -> None:
        """Closes the client's connections."""
        self.client.close()

    def _failed(self, error: SchemaRegistryError, **context: object) -> PodiumError:
        message = f"schema registry answered {error.http_status_code}: {error.error_message}"
        if error.http_status_code >= 500:  # the registry's own failure
            return Unavailable(message, registry=self.url, **context)
        return RegistryRefused(message, registry=self.url, **context)
