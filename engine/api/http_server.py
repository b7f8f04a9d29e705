"""The engine's HTTP door: health and readiness for orchestrators, Prometheus metrics, read-only
JSON, a WebSocket of the engine's events, and two guarded write actions.

Why HTTP beside the Unix socket: a monitor (Prometheus, a load balancer, systemd's watchdog, a
dashboard on another machine) speaks HTTP, not onetap's line protocol. The verdicts come from the
same ``Vitals`` as ``onetap status``, so the two never disagree.

Safety rules, enforced at start and per request:
- off by default, loopback by default; a non-loopback host is refused unless a token file exists;
- the token file must be a regular file readable by its owner only (0600), else the door refuses
  to start and names the file;
- ``POST /api/kill`` needs ``Authorization: Bearer <token>``; ``POST /api/execute/<card_id>`` needs
  the token AND ``[http] allow_execute = true``. Without a token file every write is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from engine.actor import Actor
from engine.api import access
from engine.api.access import default_token_file
from engine.api.access import is_loopback as _loopback
from engine.api.protocol import encode
from engine.bus import Subscription
from engine.config import HttpSettings
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus
from engine.model.codec import to_jsonable
from engine.model.events import ExecuteCard, FillEvent, Kill, OrderEvent, RefusalEvent
from engine.model.vitals import LINK_UP, Health
from engine.runtime.startup import EngineStartError

log = logging.getLogger(__name__)

LOOP_PROBE_S = 0.25
"""How often the event-loop lag is sampled: a sleep that overshoots by more is the lag."""


class HttpDoorError(EngineStartError):
    """The HTTP door cannot start as configured; the text names the setting or file."""


def read_token(path: Path) -> str | None:
    """``engine.api.access.read_token``, its refusal a start error here (the door does not start)."""
    try:
        return access.read_token(path)
    except access.TokenFileError as exc:
        raise HttpDoorError(str(exc)) from None


@dataclass(slots=True)
class EventCounts:
    """Counters the metrics need that no snapshot holds: what happened since the engine started."""

    fills: int = 0
    filled_value: float = 0.0
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(action, code) -> refusals."""
    finished_orders: Counter[str] = field(default_factory=Counter)
    """Terminal status -> orders that reached it."""
    loop_lag_s: float = 0.0

    def on_fill(self, event: FillEvent) -> None:
        self.fills += 1
        self.filled_value += abs(event.fill.quantity * event.fill.price)

    def on_refusal(self, event: RefusalEvent) -> None:
        self.refusals[(event.action.value, event.code.value)] += 1

    def on_order(self, event: OrderEvent) -> None:
        if event.order.status.is_terminal:
            self.finished_orders[event.order.status.value] += 1


class EngineCollector(Collector):
    """Builds every metric at scrape time from the engine's vitals and state (nothing goes stale)."""

    def __init__(self, engine: Engine, counts: EventCounts) -> None:
        self._engine = engine
        self._counts = counts

    def collect(self) -> Iterator[Any]:
        engine = self._engine
        vitals = engine.vitals()
        risk = engine.parts.risk.risk_state()
        yield _gauge(
            "onetap_health", "0 healthy, 1 degraded, 2 halted (as onetap status exits)", int(vitals.health)
        )
        state = GaugeMetricFamily("onetap_trading_state", "1 for the current trading state", labels=["state"])
        for name in ("ACTIVE", "REDUCING", "RECOVERING", "HALTED"):
            state.add_metric([name], 1.0 if vitals.trading_state.value == name else 0.0)
        yield state
        yield _gauge("onetap_kill_level", "0 none, 1 halted, 2 flattening", vitals.kill_level)
        yield _gauge(
            "onetap_broker_link_up", "1 when orders reach the broker", 1.0 if vitals.link in LINK_UP else 0.0
        )
        if vitals.link_age_s is not None:
            yield _gauge(
                "onetap_broker_heartbeat_age_seconds", "since the broker's last heartbeat", vitals.link_age_s
            )
        ages = GaugeMetricFamily(
            "onetap_quote_age_seconds", "oldest last quote per symbol group (engine clock)", labels=["group"]
        )
        for group, age in sorted(vitals.quote_age_s.items()):
            ages.add_metric([group], age)
        yield ages
        held = CounterMetricFamily(
            "onetap_quotes_held_out", "quotes held out of marks, signals and fills", labels=["problem"]
        )
        for problem, n in sorted(engine.parts.market.quotes.counts.items()):
            held.add_metric([problem.value], float(n))
        yield held
        yield _gauge(
            "onetap_symbols_held_out", "symbols whose latest quote was held out", len(vitals.held_out)
        )
        yield _gauge(
            "onetap_stale_symbols", "live symbols with a stale quote in session", len(vitals.stale_symbols)
        )
        open_orders = GaugeMetricFamily("onetap_open_orders", "working orders by status", labels=["status"])
        by_status = Counter(o.status.value for o in engine.parts.orders.open_orders())
        for status in OrderStatus:
            if status.is_open:
                open_orders.add_metric([status.value], float(by_status.get(status.value, 0)))
        yield open_orders
        finished = CounterMetricFamily(
            "onetap_orders_finished", "orders that reached a final status", labels=["status"]
        )
        for final, n in sorted(self._counts.finished_orders.items()):
            finished.add_metric([final], float(n))
        yield finished
        refusals = CounterMetricFamily(
            "onetap_refusals", "refused commands and orders", labels=["action", "code"]
        )
        for (action, code), n in sorted(self._counts.refusals.items()):
            refusals.add_metric([action, code], float(n))
        yield refusals
        yield CounterMetricFamily("onetap_fills", "fills booked since start", value=float(self._counts.fills))
        yield CounterMetricFamily(
            "onetap_filled_value", "money traded since start", value=self._counts.filled_value
        )
        yield _gauge("onetap_positions", "open positions", vitals.positions)
        yield _gauge("onetap_equity", "account equity", vitals.equity)
        yield _gauge("onetap_day_pnl", "today's profit and loss", vitals.day_pnl)
        use = GaugeMetricFamily("onetap_limit_use_ratio", "a risk measure over its limit", labels=["limit"])
        for name, value, limit in (
            ("var_95", risk.var_95, risk.var_limit),
            ("day_loss", risk.day_loss, risk.day_loss_limit),
            ("drawdown", risk.drawdown, risk.drawdown_limit),
            ("gross_exposure", risk.gross_exposure, risk.gross_limit),
        ):
            use.add_metric([name], value / limit if limit > 0 else 0.0)
        yield use
        paused = GaugeMetricFamily(
            "onetap_strategy_paused", "1 while a breaker pauses the template", labels=["template"]
        )
        for template in risk.paused_strategies:
            paused.add_metric([template], 1.0)
        yield paused
        yield _gauge(
            "onetap_event_loop_lag_seconds", "latest overshoot of a timed sleep", self._counts.loop_lag_s
        )
        if vitals.last_autopilot_run:
            day = datetime.fromisoformat(vitals.last_autopilot_run).replace(tzinfo=UTC)
            yield _gauge(
                "onetap_autopilot_last_run_timestamp_seconds", "the autopilot's last run day", day.timestamp()
            )
        writes = engine.store.write_stats
        yield SummaryMetricFamily(
            "onetap_store_write_seconds",
            "committed database write transactions, open to commit (fsync included)",
            count_value=writes.count,
            sum_value=writes.seconds,
        )
        yield _gauge(
            "onetap_store_write_max_seconds", "the slowest write transaction since start", writes.max_seconds
        )
        yield _gauge(
            "onetap_store_degraded",
            "1 while the database cannot be written",
            1.0 if vitals.store_degraded else 0.0,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class HttpDoor:
    """The running HTTP server; ``url`` once started."""

    def __init__(self, engine: Engine, settings: HttpSettings) -> None:
        self._engine = engine
        self._settings = settings
        token_file = Path(settings.token_file).expanduser() if settings.token_file else default_token_file()
        self.token_file = token_file
        self._token = read_token(token_file)
        if not _loopback(settings.host) and self._token is None:
            raise HttpDoorError(
                f"[http] host = {settings.host!r} is not loopback: create the token file {token_file} "
                "(chmod 600) first; without it the door stays on loopback only"
            )
        self.counts = EventCounts()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(EngineCollector(engine, self.counts))
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._streams: dict[web.WebSocketResponse, Subscription] = {}
        self.url = ""

    async def start(self) -> str:
        bus = self._engine.bus
        bus.on(FillEvent, self.counts.on_fill)
        bus.on(RefusalEvent, self.counts.on_refusal)
        bus.on(OrderEvent, self.counts.on_order)
        app = web.Application()
        app.add_routes(
            [
                web.get("/health", self._health),
                web.get("/ready", self._ready),
                web.get("/metrics", self._metrics),
                web.get("/api/positions", self._positions),
                web.get("/api/orders", self._orders),
                web.get("/api/cards", self._cards),
                web.get("/api/risk", self._risk),
                web.get("/api/status", self._status),
                web.get("/api/events", self._events),
                web.post("/api/kill", self._kill),
                web.post("/api/execute/{card_id}", self._execute),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise HttpDoorError(
                f"[http] cannot listen on {self._settings.host}:{self._settings.port}: {exc.strerror or exc}"
            ) from None
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._tasks.append(asyncio.create_task(self._probe_loop(), name="http-loop-lag"))
        if not _loopback(self._settings.host):
            log.warning(
                "HTTP door on %s: non-loopback, writes need the token in %s", self.url, self.token_file
            )
        return self.url

    async def stop(self) -> None:
        for ws, sub in list(self._streams.items()):
            sub.close()
            await ws.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()

    async def _probe_loop(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(LOOP_PROBE_S)
            self.counts.loop_lag_s = max(time.perf_counter() - t0 - LOOP_PROBE_S, 0.0)

    # ------------------------------------------------------------------ read
    async def _health(self, _request: web.Request) -> web.Response:
        """Liveness: the engine's loop answered (this handler ran on it)."""
        return web.json_response(
            {"status": "alive", "engine_clock": self._engine.parts.clock.now().isoformat()}
        )

    async def _ready(self, _request: web.Request) -> web.Response:
        """Readiness: healthy vitals (link up, data fresh, not recovering, not halted), else 503."""
        vitals = self._engine.vitals()
        ready = vitals.health is Health.HEALTHY
        body = {"ready": ready, "health": vitals.health.name, "reasons": list(vitals.reasons)}
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _positions(self, _request: web.Request) -> web.Response:
        return _json(self._engine.snapshot().positions)

    async def _orders(self, _request: web.Request) -> web.Response:
        return _json(self._engine.snapshot().orders)

    async def _cards(self, _request: web.Request) -> web.Response:
        return _json(self._engine.snapshot().cards)

    async def _risk(self, _request: web.Request) -> web.Response:
        snapshot = self._engine.snapshot()
        return _json({"state": snapshot.risk, "report": snapshot.risk_report, "limits": snapshot.limits})

    async def _status(self, _request: web.Request) -> web.Response:
        return _json(self._engine.vitals())

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        """The engine's events as the socket protocol words them: a snapshot, then each event.

        The stream ends when the client closes (its reader closes the subscription) or the door
        stops; neither waits for the next event to notice."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        sub = self._engine.subscribe()
        self._streams[ws] = sub
        reader = asyncio.create_task(_drain_client(ws, sub))
        try:
            await ws.send_str(encode({"event": self._engine.snapshot()}))
            async for event in sub:
                if ws.closed:
                    break
                await ws.send_str(encode({"event": event}))
        except ConnectionError:
            pass  # the client went away mid-send: the stream simply ends
        finally:
            sub.close()
            reader.cancel()
            self._streams.pop(ws, None)
        return ws

    # ------------------------------------------------------------------ write
    def _refused(self, request: web.Request) -> web.Response | None:
        if self._token is None:
            return _error(403, f"writes are off: no token file at {self.token_file}")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return _error(401, "a bearer token is required (Authorization: Bearer <token>)")
        if not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return _error(403, "the bearer token is wrong")
        return None

    async def _kill(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        reason = request.query.get("reason") or "kill switch over HTTP"
        result = await self._engine.handle(Kill(reason=reason, source=CommandSource.HTTP), _actor(request))
        return _json(result, status=200 if result.ok else 409)

    async def _execute(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not self._settings.allow_execute:
            return _error(403, "executing cards over HTTP is off ([http] allow_execute = false)")
        command = ExecuteCard(card_id=request.match_info["card_id"], source=CommandSource.HTTP)
        result = await self._engine.handle(command, _actor(request))
        return _json(result, status=200 if result.ok else 409)


async def _drain_client(ws: web.WebSocketResponse, sub: Subscription) -> None:
    """Read (and ignore) what the client sends; its close ends the stream at once."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
    sub.close()


def _actor(request: web.Request) -> Actor:
    peer = request.remote or "unknown"
    return Actor(f"http:{peer}", CommandSource.HTTP)


def _json(value: Any, *, status: int = 200) -> web.Response:
    return web.json_response(to_jsonable(value), status=status)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def start_http(engine: Engine, settings: HttpSettings) -> HttpDoor:
    door = HttpDoor(engine, settings)
    await door.start()
    return door
