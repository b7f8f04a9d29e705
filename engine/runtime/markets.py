"""Where an engine's market comes from: the paper broker over the replay of shipped (or the
user's) bars, or IBKR's clock, quotes and bars over a connected account.

Each returns the four things the rest of the engine is built on: the market clock, the bars,
the feed and the broker. The broker adapters themselves live in ``engine/brokers``; this is
the only module outside it that names a concrete broker.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from engine.brokers.base import Broker, BrokerLink
from engine.clock import SimulatedClock, WallClock
from engine.config import Settings
from engine.data.calendar import NEW_YORK
from engine.data.feed import MarketFeed
from engine.data.loader import MarketData
from engine.data.market import load_market
from engine.data.recording import RecordedEvent, RecordingFeed
from engine.data.replay import ReplayFeed, first_open
from engine.model import CommandSource
from engine.model.cash import Currencies
from engine.model.enums import AssetClass
from engine.runtime.accounting import OPENING_KEY, opening_book_payload
from engine.runtime.startup import EngineStartError, instruments, session_start
from engine.store.repository import Store

REPLAY_KEY = "replay_last_day"
"""The last session the replay started; a restart continues with the session after it."""

Market = tuple[SimulatedClock, MarketData, MarketFeed, Broker]


@dataclass(frozen=True, slots=True)
class Playback:
    """A recording to play instead of the replay (``engine.api.replay``)."""

    events: tuple[RecordedEvent, ...]
    clock_start: datetime


class NoticeSink(Protocol):
    """Tells the operator; ``topic="data"`` marks a data problem (the console's event log filters it)."""

    def __call__(self, level: str, message: str, topic: str = "") -> None: ...


def market_currencies(settings: Settings, data: MarketData) -> Currencies:
    """Which currency each instrument of the market trades in, for ``[risk] account_currency``:
    what the ledger and the paper broker book each fill's cash in (``engine.model.cash``)."""
    return Currencies(settings.risk.account_currency, {s: i.currency for s, i in data.instruments.items()})


def asset_classes(data: MarketData) -> dict[str, AssetClass]:
    """The asset class of each instrument of the market: the commission rule the paper broker
    charges it by (``engine.brokers.paper.commission``)."""
    return {s: i.asset_class for s, i in data.instruments.items()}


def paper_market(settings: Settings, store: Store, database: Path, data: MarketData | None) -> Market:
    """The replay of real bars, and the embedded paper broker trading against it."""
    from engine.brokers.paper import PaperBroker, journal_path_for

    s = settings
    data = data or load_market(s)
    last_day = store.get_state(REPLAY_KEY)
    starts_at = session_start(s.replay.start_date)
    earliest = first_open(data, s.replay.start_date)  # an instrument on another calendar may open first
    clock = SimulatedClock(min(starts_at, earliest) if earliest is not None else starts_at)
    feed = ReplayFeed.from_settings(
        s.replay, data, clock, resume_after=date.fromisoformat(last_day) if last_day else None
    )
    broker = PaperBroker.from_settings(
        s.broker,
        clock,
        journal=journal_path_for(database),
        currencies=market_currencies(s, data),
        asset_classes=asset_classes(data),
    )
    return clock, data, feed, broker


async def ibkr_market(
    settings: Settings,
    store: Store,
    data: MarketData | None,
    *,
    on_link: Callable[[BrokerLink], None],
    on_notice: NoticeSink,
    on_reconnected: Callable[[], Awaitable[None]],
) -> Market:
    """Connect to TWS / IB Gateway, then take the market (clock, quotes, bars) from it.

    ib_insync is imported here, not at the top: a paper engine never pays for it. A live-gate
    contradiction stops the start; TWS not running does not (the console starts, says so,
    and the adapter keeps trying).
    """
    from engine.brokers.ibkr.broker import IbkrBroker
    from engine.brokers.ibkr.feed import IbkrFeed
    from engine.brokers.ibkr.gate import LiveGateError
    from engine.brokers.ibkr.history import default_cache_dir
    from engine.brokers.ibkr.history import load_market as load_ibkr_market

    s = settings
    broker = IbkrBroker(
        s.ibkr,
        order_id_floor=store.highest_numeric_broker_order_id,
        on_link=on_link,
        on_notice=on_notice,
        on_reconnected=on_reconnected,
        seed=s.replay.seed,
    )
    try:
        await broker.connect()
    except LiveGateError as exc:
        await broker.disconnect()
        raise EngineStartError(str(exc)) from None
    server = broker.server_now()  # market time is IBKR's (the simulator's replay time, too)
    clock = SimulatedClock(server if server is not None else WallClock().now())
    if data is None:
        folder = Path(s.ibkr.history_cache).expanduser() if s.ibkr.history_cache else default_cache_dir()
        data, problems = await load_ibkr_market(
            broker,
            [*s.universe.symbols, s.universe.benchmark],
            duration=s.ibkr.history,
            folder=folder,
            today=clock.now().astimezone(NEW_YORK).date(),
            instruments=instruments(s),
            jump_threshold=s.data.jump_threshold,
        )
        for line in problems:
            on_notice("warning", line, "data")
    if broker.connected and store.get_state(OPENING_KEY) is None and not store.has_fills():
        await _adopt_opening_book(store, broker, clock, on_notice)
    return clock, data, IbkrFeed(broker, data, clock), broker


async def _adopt_opening_book(
    store: Store, broker: Broker, clock: SimulatedClock, on_notice: Callable[[str, str], None]
) -> None:
    """A fresh database on a broker account: start from the account's cash and positions."""
    cash = await broker.cash()
    positions = [p for p in await broker.positions() if p.quantity != 0.0]
    payload = opening_book_payload(clock.now(), cash, [(p.symbol, p.quantity, p.avg_cost) for p in positions])
    store.set_state(OPENING_KEY, json.dumps(payload), clock.now())
    store.append_audit(clock.now(), "engine", CommandSource.ENGINE.value, "opening_book", payload)
    held = ", ".join(f"{p.quantity:g} {p.symbol}" for p in positions) or "no positions"
    on_notice("info", f"{broker.name}: started from the account as it is: cash {cash:,.2f}, {held}")


def paper_journal(database: Path) -> Path:
    """The paper broker's journal beside ``database`` (recordings copy it with the database)."""
    from engine.brokers.paper import journal_path_for

    return journal_path_for(database)


def recorded_market(settings: Settings, database: Path, data: MarketData, playback: Playback) -> Market:
    """A recording's market (``engine.api.replay``): its quotes on its clock, the paper broker
    matching them from the journal the session started with."""
    from engine.brokers.paper import PaperBroker, journal_path_for

    clock = SimulatedClock(playback.clock_start)
    feed = RecordingFeed(playback.events, data.bars, clock)
    broker = PaperBroker.from_settings(
        settings.broker,
        clock,
        journal=journal_path_for(database),
        currencies=market_currencies(settings, data),
        asset_classes=asset_classes(data),
    )
    return clock, data, feed, broker
