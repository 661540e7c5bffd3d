"""Which environment variables a Podium program reads: its settings class's fields, under
its prefix, nested with its delimiter. A deployment that sets any other PODIUM_* variable
configures nothing, and the program silently runs on a default."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tests.unit.deploy.tools import REPO


def folders() -> list[str]:
    """Every Podium service: the folders under services/."""
    return sorted(path.name for path in (REPO / "services").iterdir() if path.is_dir())


def settings_class(folder: str) -> type[BaseSettings]:
    """The settings class a service (or tools/ program) defines in its settings.py."""
    module = importlib.import_module(f"podium_{folder.replace('-', '_')}.settings")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseSettings)
        and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{module.__name__} defines {classes}"
    return classes[0]


def names_a_field(settings: type[BaseSettings], variable: str) -> bool:
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    delimiter = settings.model_config.get("env_nested_delimiter") or None
    if not variable.startswith(prefix):
        return False
    path = variable.removeprefix(prefix).lower()
    model: Any = settings
    for part in path.split(delimiter) if delimiter else [path]:
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            return False
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = field.annotation
    return True
