"""The aggregator's faust comes without aiohttp, PyYAML, croniter and venusian, in a fresh process
(this one may have imported them already), and those libraries stay importable for real."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LEFT_OUT = ("aiohttp", "yaml", "croniter", "dateutil", "venusian")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from podium_aggregator.app import create_app
    from podium_aggregator.settings import AggregatorSettings

    app = create_app(AggregatorSettings())
    found = {"loaded": [name for name in sys.argv[1:] if name in sys.modules]}
    try:
        app.http_client
    except RuntimeError as error:
        found["http_client"] = str(error)
    import aiohttp.client, venusian, yaml
    from croniter import croniter
    found["real"] = [
        aiohttp.client.ClientSession.__module__,
        yaml.safe_load("a: 1"),
        croniter.__module__,
        venusian.Scanner.__module__,
    ]
    print(json.dumps(found))
    """
)


def test_the_aggregators_app_imports_none_of_them_and_later_imports_are_real() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *LEFT_OUT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["loaded"] == []
    assert "no HTTP calls through faust" in found["http_client"]
    assert found["real"] == ["aiohttp.client", {"a": 1}, "croniter.croniter", "venusian"]
