"""Every subject Podium writes in a schema registry, and registering them at deploy time
(`podium schemas register`, `podium up --registry`), so writers need not register
(`PODIUM_SCHEMA_REGISTRY__AUTO_REGISTER` off)."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from podium_common.avro import Codec
from podium_common.events import EVENT_TYPES, Event, TaskAssigned, topic_for
from podium_common.registry import Registry, subject
from podium_common.settings import SchemaRegistrySettings
from podium_common.topics import TaskType, Topics


def event_topics(topics: Topics) -> list[tuple[type[Event], str]]:
    """Every (event type, topic) pair Podium writes: one subject each."""
    pairs = []
    for model in EVENT_TYPES:
        # Unvalidated samples: `topic_for` reads only an event's class and a task's type.
        fields: list[dict[str, Any]] = [{}]
        if model is TaskAssigned:
            fields = [{"type": kind} for kind in TaskType]
        pairs += [(model, topic_for(model.model_construct(**given), topics)) for given in fields]
    return pairs


def register_all(settings: SchemaRegistrySettings, topics: Topics) -> dict[str, int]:
    """Registers the newest schema of every event under its subjects; returns their ids."""
    schemas = Codec().schemas()
    ids = {}
    with closing(Registry(settings.model_copy(update={"auto_register": True}))) as registry:
        for model, topic in event_topics(topics):
            name = subject(topic, schemas[model])
            ids[name] = registry.id_for(name, schemas[model])
    return ids
