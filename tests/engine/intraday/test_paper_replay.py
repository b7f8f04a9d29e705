"""The paper engine replaying intraday bars (``[data] replay_sets``, config/intraday-paper.toml):
the shipped EURUSD hourly bars on 24/5 and BTC-USD 15-minute bars on 24/7, each bar played as
quotes through its OHLC at its own times; the live cards see only bars closed by the step; paper
orders fill at the replayed quotes; the daily-loss day rolls at the stated boundary. Real store
(tmp_path), real paper broker, the engine stepped by hand (its clock is the replay's)."""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.actor import Actor
from engine.clock import SimulatedClock
from engine.config import Settings, load_settings
from engine.data.intraday_sets import daily_bars
from engine.data.loader import DataError, MarketData
from engine.data.market import load_market
from engine.data.replay import ReplayFeed
from engine.kernel import Engine
from engine.model import CommandSource, Leg, OrderRequest, RefusalCode, Side, StrategyCard, TradingState
from engine.model.events import MarketEvent
from engine.research.intraday import SetCard
from engine.risk.pretrade import BookView, Limits, check_market_hours
from engine.runtime.startup import session_start

CONFIG = Path(__file__).resolve().parents[3] / "config" / "intraday-paper.toml"
OPERATOR = Actor("alice", CommandSource.HOTKEY)
STEPS = 4
"""Quotes a bar at ``steps_per_day`` 96 (an hour or a quarter hour: both 4)."""


def intraday_settings(start: str, end: str, **env: str) -> Settings:
    environ = {
        "ONETAP_REPLAY__START": start,
        "ONETAP_REPLAY__END": end,
        "ONETAP_REPLAY__STEPS_PER_DAY": "96",
        "ONETAP_CARDS__INTRADAY_PERMUTATIONS": "0",
        **env,
    }
    return load_settings(CONFIG, environ=environ)


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(intraday_settings("2017-12-22", ""))


@contextlib.asynccontextmanager
async def running(settings: Settings, db: Path, market: MarketData) -> AsyncIterator[Engine]:
    eng = Engine(settings, database=db, market=market, paced=False)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


async def step_until(eng: Engine, at: datetime) -> None:
    while eng.clock.now() < at and not eng.feed.finished:
        await eng.step(1)


def utc(y: int, m: int, d: int, hh: int = 0) -> datetime:
    return datetime(y, m, d, hh, tzinfo=UTC)


# ------------------------------------------------------------------------------ the quotes
async def test_quotes_follow_the_bars_fx_rests_at_the_weekend_a_coin_does_not(
    tmp_path: Path, market: MarketData
) -> None:
    """From Friday 2017-12-22 (EURUSD) to Sunday 2021-10-03 (BTC-USD): every replayed bar is
    played as 4 quotes at its own start + k x bar / 4, first trade its open, last its close,
    touching its high and low; no 24/5 quote on a weekend, 24/7 quotes on both weekend days."""
    events: list[MarketEvent] = []
    async with running(intraday_settings("2017-12-22", "2021-10-03"), tmp_path / "a.db", market) as eng:
        eng.bus.on(MarketEvent, events.append)
        while not eng.feed.finished:
            await eng.step(500)
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)  # one clock, merged in time order
    quotes = [q for e in events for q in e.quotes]
    for symbol, first, last in (
        ("EURUSD", "2017-12-22", "2017-12-30"),
        ("BTCUSD", "2021-09-27", "2021-10-04"),
    ):
        series = market.intraday[symbol].series
        bar = timedelta(minutes=series.bar.minutes)
        played: dict[pd.Timestamp, list[float]] = defaultdict(list)
        times: dict[pd.Timestamp, list[datetime]] = defaultdict(list)
        for q in quotes:
            if q.symbol == symbol:
                start = pd.Timestamp(q.ts).tz_convert(None).floor(bar)
                played[start].append(q.last)
                times[start].append(q.ts)
        expected = series.frame.loc[first:last].iloc[:-1] if symbol == "BTCUSD" else series.frame.loc[first:]
        expected = expected[expected.index < pd.Timestamp(last)]
        assert list(played) == list(expected.index)  # every bar of the slice, nothing else
        for start, row in expected.iterrows():
            path = played[start]
            assert len(path) == STEPS
            assert (path[0], path[-1], max(path), min(path)) == (row.open, row.close, row.high, row.low)
            at = start.tz_localize(UTC).to_pydatetime()
            assert times[start] == [at + bar * k / STEPS for k in range(STEPS)]
    fx_days = {q.ts.date() for q in quotes if q.symbol == "EURUSD"}
    assert all(d.weekday() < 5 for d in fx_days)
    friday_last = max(
        q.ts for q in quotes if q.symbol == "EURUSD" and q.ts.date().isoformat() == "2017-12-22"
    )
    after = min(q.ts for q in quotes if q.symbol == "EURUSD" and q.ts > friday_last)
    assert after == utc(2017, 12, 25)  # Friday's last bar, then Monday 00:00 UTC: no weekend steps
    coin_weekend = {q.ts.date().isoformat() for q in quotes if q.symbol == "BTCUSD" and q.ts.weekday() >= 5}
    assert coin_weekend == {"2021-10-02", "2021-10-03"}
    saturday = [q for q in quotes if q.symbol == "BTCUSD" and q.ts.date().isoformat() == "2021-10-02"]
    assert len(saturday) == 96 * STEPS  # a whole 24-hour session of 15-minute bars
    # a daily XNYS series (the benchmark) on the same day: its path 14:30-21:00 UTC, merged in
    # time order with the pair's bars on one clock (steps at the same time share one step)
    spx = [q.ts for q in quotes if q.symbol == "SPX" and q.ts.date().isoformat() == "2017-12-22"]
    assert (min(spx), max(spx)) == (utc(2017, 12, 22, 14) + timedelta(minutes=30), utc(2017, 12, 22, 21))
    assert any({q.symbol for q in e.quotes} == {"SPX", "EURUSD"} for e in events)


# ------------------------------------------------------------------------------ no look-ahead
def perturbed_after(market: MarketData, symbol: str, cut: datetime) -> MarketData:
    """A copy of ``market`` whose ``symbol`` bars closing after ``cut`` are another future."""
    chosen = market.intraday[symbol]
    frame = chosen.series.frame.copy()
    later = frame.index + pd.Timedelta(minutes=chosen.series.bar.minutes) > pd.Timestamp(cut).tz_convert(None)
    frame.loc[later, ["open", "high", "low", "close"]] *= 1.07
    frame.loc[later, "volume"] *= 3.0
    series = replace(chosen.series, frame=frame)
    other = load_market(intraday_settings("2017-12-22", ""))
    other.intraday[symbol] = replace(chosen, series=series)
    other.bars[symbol] = daily_bars(series)
    return other


def numbers(cards: Mapping[tuple[str, str], SetCard]) -> list[tuple[object, ...]]:
    """What a card says, in numbers and words (its template object aside)."""
    return [
        (
            key,
            c.record.n,
            c.record.win_rate,
            c.record.mean,
            c.record.std,
            c.entry_now,
            c.reason,
            repr((c.backtest, c.buy_hold, c.oos, c.oos_buy_hold, c.windows)),
            c.verdict.text,
        )
        for key, c in sorted(cards.items())
    ]


async def test_the_cards_at_a_step_never_see_a_bar_that_closes_after_it(
    tmp_path: Path, market: MarketData
) -> None:
    """Two engines, one with every EURUSD bar closing after 12:00 on 2017-12-27 changed: step by
    step up to 12:00 their cards and the bars the market view shows are the same; at 12:00 the
    quotes already differ (the 12:00 bar is forming), and the bars shown end with the 11:00 bar."""
    cut = utc(2017, 12, 27, 12)
    settings = intraday_settings("2017-12-26", "2017-12-28")
    async with (
        running(settings, tmp_path / "a.db", market) as real,
        running(settings, tmp_path / "b.db", perturbed_after(market, "EURUSD", cut)) as other,
    ):
        compared = 0
        while real.clock.now() < cut:
            await real.step(1)
            await other.step(1)
            assert real.clock.now() == other.clock.now()
            a, b = real.parts.set_cards, other.parts.set_cards
            assert a is not None and b is not None
            assert numbers(a.cards) == numbers(b.cards)
            shown = real.parts.market.bar_history("EURUSD")
            pd.testing.assert_frame_equal(shown, other.parts.market.bar_history("EURUSD"))
            compared += 1
        assert real.clock.now() == cut and compared > 100
        assert a.computed_for is not None and a.computed_for.isoformat() == "2017-12-27"
        assert a.refreshed_at == cut  # the 11:00 bar closed at 12:00: its set was refreshed there
        assert len(a.cards) == 3 and all(c.record.n > 0 for c in a.cards.values())
        assert shown.index[-1] == pd.Timestamp("2017-12-27 11:00")  # the 12:00 bar is still forming
        assert real.parts.market.bar_size("EURUSD") == "1h"
        assert real.parts.market.latest_quotes()["EURUSD"] != other.parts.market.latest_quotes()["EURUSD"]


# ------------------------------------------------------------------------------ paper orders
@pytest.mark.parametrize(
    ("symbol", "start", "at", "quantity"),
    [
        ("EURUSD", "2017-12-27", utc(2017, 12, 27, 3), 10_000.0),  # 03:00 UTC: New York closed
        ("BTCUSD", "2021-10-02", utc(2021, 10, 2, 3), 0.05),  # a Saturday
    ],
)
async def test_a_paper_market_order_fills_at_the_current_bars_quote(
    tmp_path: Path, market: MarketData, symbol: str, start: str, at: datetime, quantity: float
) -> None:
    events: list[MarketEvent] = []
    async with running(intraday_settings(start, ""), tmp_path / "a.db", market) as eng:
        await step_until(eng, at)
        assert not eng.parts.market.market_open()  # XNYS closed: the symbol's own calendar is open
        card = StrategyCard(
            card_id=f"T-{symbol}",
            template="manual",
            name=f"buy {symbol}",
            legs=(Leg(symbol, Side.BUY, quantity),),
            confidence=0.5,
            expected_return=0.0,
            max_risk=0.0,
            reason="test",
            asof=eng.clock.now(),
        )
        eng.store.save_cards([card])
        result = await eng.parts.trading.execute(card, OPERATOR)
        assert result.ok, result.message
        eng.bus.on(MarketEvent, events.append)
        await eng.step(1)
        fills = eng.store.load_fills()
        assert len(fills) == 1
        fill = fills[0]
        quote = next(q for q in events[0].quotes if q.symbol == symbol)
        assert fill.ts == quote.ts == eng.clock.now()
        assert fill.price == pytest.approx(quote.ask * (1 + eng.broker.slippage), abs=1e-4)
        series = market.intraday[symbol].series
        row = series.frame.loc[pd.Timestamp(quote.ts).tz_convert(None).floor(f"{series.bar.minutes}min")]
        assert row.low <= quote.last <= row.high  # the bar being played
        await eng.step(3)
        position = next(p for p in eng.ledger.positions() if p.symbol == symbol)
        mark = eng.parts.market.latest_quotes()[symbol].last
        assert position.quantity == quantity and position.last == mark
        assert position.unrealized_pnl == pytest.approx((mark - position.avg_cost) * quantity)


def test_market_hours_are_the_symbols_own_calendar() -> None:
    limits = Limits(
        max_order_value=1e9, max_order_quantity=1e9, max_position_pct=1.0, gross_exposure_limit=1.0
    )
    book = BookView(
        trading_state=TradingState.ACTIVE,
        halted_reason="",
        equity=1e5,
        cash=1e5,
        positions={},
        prices={"EURUSD": 1.1, "BTCUSD": 40_000.0, "AAPL": 100.0},
        working={},
        working_buy_value=0.0,
        gross_exposure=0.0,
        tradable=frozenset({"EURUSD", "BTCUSD", "AAPL"}),
        market_open=False,  # a Saturday: New York is closed
        own_sessions={"EURUSD": ("24/5", False), "BTCUSD": ("24/7", True)},
    )
    assert check_market_hours(OrderRequest("BTCUSD", Side.BUY, 0.1), book, limits) is None
    fx = check_market_hours(OrderRequest("EURUSD", Side.BUY, 1000), book, limits)
    assert fx is not None and fx.code is RefusalCode.MARKET_CLOSED and "24/5 calendar" in fx.message
    stock = check_market_hours(OrderRequest("AAPL", Side.BUY, 1), book, limits)
    assert stock is not None and "XNYS" in stock.message
    assert check_market_hours(OrderRequest("EURUSD", Side.SELL, 1000, reduce_only=True), book, limits) is None


# ------------------------------------------------------------------------------ daily loss
@pytest.mark.parametrize(
    ("boundary", "rolls_at"),
    [
        ("", utc(2017, 12, 27, 22)),  # a universe with FX: 17:00 New York (22:00 UTC in winter)
        ("06:00 Europe/London", utc(2017, 12, 28, 6)),
    ],
)
async def test_the_daily_loss_day_rolls_at_the_stated_boundary_not_at_the_session_start(
    tmp_path: Path, market: MarketData, boundary: str, rolls_at: datetime
) -> None:
    settings = intraday_settings("2017-12-27", "2017-12-28", ONETAP_RISK__DAY_BOUNDARY=boundary)
    async with running(settings, tmp_path / "a.db", market) as eng:
        await step_until(eng, utc(2017, 12, 27, 7))  # after London's 06:00 on the 27th
        card = StrategyCard(
            "T-1",
            "manual",
            "buy EURUSD",
            (Leg("EURUSD", Side.BUY, 10_000.0),),
            0.5,
            0.0,
            0.0,
            "",
            eng.clock.now(),
        )
        eng.store.save_cards([card])
        assert (await eng.parts.trading.execute(card, OPERATOR)).ok
        seen: list[tuple[datetime, float, float]] = []  # (step time, day's baseline, equity)
        while eng.clock.now() < rolls_at + timedelta(hours=2):
            await eng.step(1)
            account = eng.ledger.account()
            seen.append((eng.clock.now(), account.start_of_day_equity, account.equity))
    assert eng.store is not None
    changes = [k for k in range(1, len(seen)) if seen[k][1] != seen[k - 1][1]]
    assert len(changes) == 1  # one roll in the window: the session start at 00:00 UTC is not one
    k = changes[0]
    assert seen[k - 1][0] < rolls_at <= seen[k][0]
    assert seen[k][0] - rolls_at < timedelta(minutes=15)  # on the first step at or after it
    assert seen[k][1] == pytest.approx(seen[k - 1][2])  # the day opens at the last marks before it
    assert seen[0][1] != seen[k][1]


# ------------------------------------------------------------------------------ daily configs
DAILY_DIGEST = "06e22a3edcf92da1aba5dff625112fe3afcfb6a8c5dc31031c31146e1107a3aa"
"""sha256 of the repr of every quote of the default config's first two sessions (steps_per_day
30), as the replay played them before intraday bars (commit af72056)."""


def test_a_daily_only_config_replays_exactly_as_before(shipped: MarketData) -> None:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    assert settings.data.replay_sets == [] and load_market(settings).intraday == {}
    clock = SimulatedClock(session_start(settings.replay.start_date))
    feed = ReplayFeed.from_settings(settings.replay, shipped, clock)
    digest = hashlib.sha256()
    n = 0

    def sink(quotes: tuple[object, ...]) -> None:
        nonlocal n
        for q in quotes:
            digest.update(repr(q).encode())
            n += 1

    feed.play_day(sink)
    feed.play_day(sink)
    assert n == 372 and digest.hexdigest() == DAILY_DIGEST


async def test_a_daily_engine_has_no_intraday_part(engine: Engine) -> None:
    assert engine.parts.set_cards is None
    assert engine.parts.market.own_sessions() == {}  # every symbol on XNYS: the market hours as before
    assert engine.parts.market.bar_size("AAPL") == "1d"
    pd.testing.assert_frame_equal(
        engine.parts.market.bar_history("AAPL"), engine.parts.market.history("AAPL")
    )


def test_replay_sets_are_checked_against_the_sets_file_and_the_universe() -> None:
    with pytest.raises(DataError, match="no set named EURUSD-5min; the file has EURUSD-1h"):
        load_market(intraday_settings("2017-12-22", "", ONETAP_DATA__REPLAY_SETS='["EURUSD-5min"]'))
    s = intraday_settings("2017-12-22", "")
    s = s.model_copy(update={"universe": s.universe.model_copy(update={"symbols": ["EURUSD"]})})
    with pytest.raises(DataError, match="BTCUSD-15min is BTCUSD, which is not in \\[universe\\] symbols"):
        load_market(s)


async def test_a_restart_continues_with_the_next_session_marked_at_the_last_bar_quote(
    tmp_path: Path, market: MarketData
) -> None:
    settings = intraday_settings("2017-12-27", "2017-12-29")
    events: list[MarketEvent] = []
    async with running(settings, tmp_path / "a.db", market) as first:
        first.bus.on(MarketEvent, events.append)
        await first.step_day()
        assert first.feed.current_day is not None and first.feed.current_day.isoformat() == "2017-12-27"
    last = next(q for e in reversed(events) for q in e.quotes if q.symbol == "EURUSD")
    assert last.ts == utc(2017, 12, 27, 23) + timedelta(minutes=45)  # the 23:00 bar's 4th quote
    assert last.last == market.intraday["EURUSD"].series.frame.loc["2017-12-27 23:00", "close"]
    async with running(settings, tmp_path / "a.db", market) as again:
        assert again.feed.latest_quotes()["EURUSD"] == last
        assert again.clock.now() == last.ts
        await again.step(1)
        assert again.clock.now() == utc(2017, 12, 28)  # the next session's first bar, not a replay
