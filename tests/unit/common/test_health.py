"""The health endpoints of a service without an HTTP API of its own, on a real port:
liveness, readiness as the service reports it, Prometheus metrics, and a clean stop."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from podium_cli.stack.processes import free_port
from podium_common.health import serve_health


async def test_health_readiness_metrics_and_a_clean_stop() -> None:
    ready = False
    port = free_port()
    server = await serve_health("127.0.0.1", port, lambda: ready)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        live = await http.get("/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        starting = await http.get("/readyz")
        assert (starting.status_code, starting.json()) == (503, {"status": "starting"})
        ready = True
        now = await http.get("/readyz")
        assert (now.status_code, now.json()) == (200, {"status": "ready"})

        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "python_gc_objects_collected_total" in metrics.text

        assert (await http.get("/elsewhere")).status_code == 404
        refused = await http.post("/healthz")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"

    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
    assert not any(thread.name == "health" for thread in threading.enumerate())
    with socket.socket() as again:  # nothing listens on the port once the task is done
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        again.bind(("127.0.0.1", port))
        again.listen()


async def test_a_port_in_use_is_an_error_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            await serve_health("127.0.0.1", taken.getsockname()[1], lambda: True)
