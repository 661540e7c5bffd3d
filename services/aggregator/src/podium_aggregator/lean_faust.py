"""faust without the libraries it imports for features the aggregator does not use: 10 MB of
the aggregator's idle memory (71.9 → 61.7 MB).

- aiohttp (8.4 MB): faust imports its `ClientSession` when it is imported, only to name a
  type (`faust.types.web.HttpClientT`), and again when an app's settings are made, to resolve
  its `HttpClient` setting. The aggregator serves no faust web views and makes no HTTP calls
  through faust: its `HttpClient` is `NoHttpClient`, which says so if faust is asked for one.
- PyYAML (1 MB): faust's `yaml` codec imports it if it is installed, and says it is missing
  if the codec is used without it. The aggregator's topics carry Avro.
- croniter, with dateutil (0.8 MB): mode and faust import it for crontab timers, which the
  aggregator has none of; `NoCrontab` says so if one is made.
- venusian (0.4 MB once the app is made): faust attaches each agent and timer for its
  autodiscovery scan, reading the caller's source file and indexing every module's file to
  do so, though the aggregator turns autodiscovery off (`autodiscover=False`).

`import_faust()` imports those faust and mode modules with a stand-in for each library and
removes the stand-ins afterwards, so that a later import of the library gets the real one.
"""

from __future__ import annotations

import importlib
import sys
import types

# The mode and faust modules that import those libraries: imported while the stand-ins are in.
_IMPORTERS = (
    "mode.utils.cron",
    "faust.utils.cron",
    "faust.utils.venusian",
    "faust.types.web",
    "faust.serializers.codecs",
)


class NoHttpClient:
    """faust's HTTP client in the aggregator: there is none, and asking for one says why."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "the aggregator makes no HTTP calls through faust: its faust app has no HttpClient"
        )


class NoCrontab:
    """croniter in the aggregator: it has no crontab timers."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the aggregator has no crontab timers")


class NoScanner:
    """venusian's scanner in the aggregator: it does not autodiscover."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the aggregator does not autodiscover (autodiscover=False)")


def _attach_nothing(*args: object, **kwargs: object) -> None:
    """venusian's `attach`: nothing scans for what it would attach."""


def _stand_ins() -> dict[str, types.ModuleType | None]:
    client = types.ModuleType("aiohttp.client", "Names aiohttp's ClientSession for faust's types.")
    client.ClientSession = NoHttpClient  # type: ignore[attr-defined]
    cron = types.ModuleType("croniter.croniter", "Names croniter for mode's and faust's crontabs.")
    cron.croniter = NoCrontab  # type: ignore[attr-defined]
    scan = types.ModuleType("venusian", "Names venusian for faust's autodiscovery.")
    scan.Scanner = NoScanner  # type: ignore[attr-defined]
    scan.attach = _attach_nothing  # type: ignore[attr-defined]
    # None in sys.modules makes `import yaml` raise ImportError, which faust expects.
    return {"aiohttp.client": client, "croniter.croniter": cron, "venusian": scan, "yaml": None}


def import_faust() -> None:
    """Imports faust without aiohttp, PyYAML, croniter and venusian, each unless it is
    imported already (a process that uses one pays for it anyway)."""
    if "faust" in sys.modules:
        return
    stand_ins = {name: module for name, module in _stand_ins().items() if name not in sys.modules}
    sys.modules.update(stand_ins)  # type: ignore[arg-type]
    try:
        for name in _IMPORTERS:
            importlib.import_module(name)
    finally:
        for name in stand_ins:
            del sys.modules[name]
