"""How long a risk alert takes to reach a webhook: from ``dispatch`` to the server holding the body.

The requirement is that a breach reaches the operator within 5 seconds; this measures our share
of that on loopback (a real ``ThreadingHTTPServer``, the real dispatcher and notifier), one alert
at a time so each figure is a delivery latency, not a queueing delay.

Run with ``python -m tests.bench.alerts``. Figures are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from statistics import median, quantiles
from typing import Any

from engine.config import AlertSettings
from engine.model.events import RiskAlert
from engine.risk.alerts import AlertDispatcher

TARGET_MS = 5000.0


def _server(arrivals: list[float]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append(time.perf_counter())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


async def _measure(url: str, arrivals: list[float], n: int) -> tuple[list[float], list[str]]:
    failures: list[str] = []
    # [alerts] as shipped, with the webhook on and every level sent
    settings = AlertSettings(webhook_url=url, min_level="info")
    dispatcher = AlertDispatcher.from_settings(settings, on_failure=failures.append)
    latencies: list[float] = []
    for i in range(n):
        alert = RiskAlert(datetime(2024, 3, 1, 15, 30, tzinfo=UTC), "HALTED", "error", f"bench alert {i}")
        before = len(arrivals)
        t0 = time.perf_counter()
        dispatcher.dispatch(alert)
        await dispatcher.drain()
        if len(arrivals) > before:
            latencies.append(arrivals[-1] - t0)
    return latencies, failures


def main(n: int = 200, warmup: int = 10) -> None:
    arrivals: list[float] = []
    server = _server(arrivals)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        asyncio.run(_measure(url, arrivals, warmup))
        latencies, failures = asyncio.run(_measure(url, arrivals, n))
    finally:
        server.shutdown()
        server.server_close()
    if not latencies:
        print(f"alerts: webhook delivery on loopback failed for all {n} alerts: {failures[:1]}")
        return
    ms = [s * 1000 for s in latencies]
    mid = median(ms)
    p99 = quantiles(ms, n=100)[98] if len(ms) >= 2 else ms[0]
    extra = f"  ({len(failures)} failed)" if failures else ""
    print(
        f"alerts: webhook delivery on loopback  median {mid:.2f} ms  p99 {p99:.2f} ms  "
        f"({len(ms)} alerts)  target {TARGET_MS:.0f} ms  ratio {p99 / TARGET_MS:.5f}{extra}"
    )


if __name__ == "__main__":
    main()
