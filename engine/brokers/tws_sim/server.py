"""``TwsSimulator``: the listening socket, the connected sessions and the routing of exchange events.

Runs on one asyncio loop: either a caller's (``await sim.start(port=0)``) or its own thread's
(``with run_in_thread(sim) as port:``) so tests can use ib_insync's blocking API on the main thread
(notes gotcha 11). Every public method that changes state is safe to call from any thread: it is
run on the simulator's loop and waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.commission import CommissionSchedule, shipped_schedule
from engine.brokers.tws_sim.contracts import Universe
from engine.brokers.tws_sim.events import (
    BookChanged,
    Event,
    OrderChanged,
    OrderError,
    OrderFilled,
    Quote,
    QuoteChanged,
)
from engine.brokers.tws_sim.exchange import Exchange, ExchangeConfig
from engine.brokers.tws_sim.faults import Faults
from engine.brokers.tws_sim.fx_history import FxTape
from engine.brokers.tws_sim.history import TradeTape, day_of
from engine.brokers.tws_sim.session import Session
from engine.clock import WallClock

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything that shapes one simulator; defaults suit tests.

    ``delayed``: serve every subscription as delayed data (66..74, warning 10167), as for an
    account without live market data permissions.
    ``master_client_id``: the one client id whose reqExecutions sees every client's fills (TWS's
    "Master API client ID"); other clients see only their own.
    """

    accounts: tuple[str, ...] = ("DU1234567",)
    cash: float = 1_000_000.0
    max_fill_per_quote: float | None = None
    fill_at_displayed_size: bool = False
    delayed: bool = False
    commission: CommissionSchedule = field(default_factory=shipped_schedule)
    first_order_id: int = 1
    first_perm_id: int = 1_000_001
    master_client_id: int | None = None

    def exchange_config(self) -> ExchangeConfig:
        return ExchangeConfig(
            accounts=self.accounts,
            cash=self.cash,
            max_fill_per_quote=self.max_fill_per_quote,
            fill_at_displayed_size=self.fill_at_displayed_size,
            commission=self.commission,
            first_order_id=self.first_order_id,
            first_perm_id=self.first_perm_id,
        )


_WALL = WallClock()
"""The machine's clock, by default; tests inject a simulated one."""


class TwsSimulator:
    """A TWS/IB Gateway stand-in that real TWS API clients connect to over TCP."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        universe: Universe | None = None,
        bars: Mapping[str, pd.DataFrame] | None = None,
        clock: Callable[[], datetime] = _WALL.now,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.universe = universe or Universe()
        self._bars = bars
        self.tape = TradeTape()
        """Every trade the simulator printed this session: the bar so far that history serves."""
        self.fx_tapes: dict[str, FxTape] = {}
        """pair key -> its series and how far it has been played (``FxDriver``): forex history."""
        self._clock = clock
        self.exchange = Exchange(self.config.exchange_config(), self._on_event, clock)
        self.faults = Faults(self)
        self._sessions: set[Session] = set()
        self._by_client: dict[int, Session] = {}
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.host = "127.0.0.1"
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = any free port) on the running loop; returns the port."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, host, port)
        self.host = host
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            self.drop_all()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self._sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    # ------------------------------------------------------------------ threads
    def loop_time(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the simulator's loop and return its result (directly when already on it)."""
        loop = self._loop
        if loop is None or not loop.is_running() or _on_loop(loop):
            return fn(*args)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=10.0)

    def schedule(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the simulator's loop, from another thread; its result comes in the future.

        For a driver that paces many changes itself (yielding between them as a real feed does)
        rather than making one ``call`` per change. Raises ``RuntimeError`` before ``start``.
        """
        if self._loop is None:
            coro.close()
            raise RuntimeError("the simulator is not started: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ------------------------------------------------------------------ driving API
    def now(self) -> datetime:
        return self._clock()

    def set_quote(
        self,
        symbol: str,
        bid: float,
        ask: float,
        last: float | None = None,
        *,
        bid_size: float = 100.0,
        ask_size: float = 100.0,
        last_size: float = 0.0,
        volume: float = 0.0,
    ) -> None:
        """New top of book for a stock symbol or OCC option symbol: ticks to subscribers, then matching."""
        spec = self.universe.by_key(symbol)
        if spec is None:
            raise KeyError(f"{symbol!r} is not in the simulator's universe")
        quote = Quote(bid, ask, last if last is not None else 0.0, bid_size, ask_size, last_size, volume)
        self.call(self.exchange.set_quote, spec.key, quote)

    def end_session(self) -> None:
        """The market closes: DAY orders are cancelled, GTC orders keep working."""
        self.call(self.exchange.end_session)

    def connected_client_ids(self) -> list[int]:
        return self.call(lambda: sorted(self._by_client))

    def history_bars(self) -> Mapping[str, pd.DataFrame]:
        """Daily bars for reqHistoricalData; the shipped data is loaded on first use."""
        if self._bars is None:
            from engine.data.shipped import load_shipped

            self._bars = load_shipped().bars
        return self._bars

    # ------------------------------------------------------------------ sessions
    def claim(self, session: Session, client_id: int) -> bool:
        """Give ``client_id`` to ``session`` unless a live connection holds it (error 326)."""
        holder = self._by_client.get(client_id)
        if holder is not None and holder is not session and not holder.closed:
            return False
        self._by_client[client_id] = session
        return True

    def release(self, session: Session) -> None:
        if session.client_id is not None and self._by_client.get(session.client_id) is session:
            del self._by_client[session.client_id]

    def drop_all(self) -> None:
        for session in list(self._sessions):
            session.close()

    def broadcast_error(self, req_id: int, code: int, message: str) -> None:
        for session in self._started():
            session.error(req_id, code, message)

    def _started(self) -> list[Session]:
        return [s for s in self._sessions if s.client_id is not None and not s.closed]

    # ------------------------------------------------------------------ exchange events
    def _on_event(self, event: Event) -> None:
        if isinstance(event, QuoteChanged):
            self.tape.see(event.key, day_of(self.now()), event.quote.last, event.quote.volume)
            for session in self._started():
                session.on_quote(event.key, event.quote)
        elif isinstance(event, BookChanged):
            for session in self._started():
                session.on_book(event.account, event.key)
        else:
            owner = self._by_client.get(
                event.order.client_id if not isinstance(event, OrderError) else event.client_id
            )
            if owner is None or owner.closed:
                return
            if isinstance(event, OrderChanged):
                owner.send_order(event.order, event.open_order)
                if event.cancelled_notice:
                    owner.error(event.order.order_id, 202, "Order Canceled - reason:")
            elif isinstance(event, OrderFilled):
                owner.send(outgoing.exec_details(owner.version, -1, event.execution))
                owner.send_order(event.order)
                owner.send(outgoing.commission_report(event.execution))
            else:
                owner.error(event.order_id, event.code, event.message)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@contextmanager
def run_in_thread(sim: TwsSimulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """Run ``sim`` on its own thread and event loop; yields the port it listens on."""
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[int] = concurrent.futures.Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            started.set_result(loop.run_until_complete(sim.start(host, port)))
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()
        loop.run_until_complete(sim.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())

    thread = threading.Thread(target=serve, name="tws-sim", daemon=True)
    thread.start()
    try:
        yield started.result(timeout=10.0)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10.0)
        loop.close()
