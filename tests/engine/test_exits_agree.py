"""One model of exits, live too: entries executed on the shipped replay are protected by the
engine (stop, trailing stop, target, time exit at the broker), and each one leaves the market on
the same session, at the same kind of exit, as ``engine.strategies.exits.exit_trades`` says it
does from the same fill and the same levels. The backtester and the card track record run that
very function (``tests/engine/strategies/test_exits.py`` holds them equal on the shipped data).

Stated fill-model differences, and the tolerance they earn (0.6% of the price):
- the paper broker fills a triggered stop at the replay quote that crossed it (a 13-minute step
  at 30 steps a session), the model exactly at the stop (or at the open through a gap);
- a target is a resting limit: the broker fills at the quote, at or better than the limit;
- the time exit is a market order one quote step before the close, the model fills at the close;
- the entry fills at the session's second quote, the model at that fill price on the same bar.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.actor import Actor
from engine.config import load_settings
from engine.data.calendar import NEW_YORK
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, Order, OrderStatus, OrderType, Side, StrategyCard
from engine.model.events import ExecuteCard
from engine.strategies.exits import ExitReason, TradeLevels, exit_trades

OPERATOR = Actor("tester", CommandSource.HOTKEY)
SESSIONS = 60
TOLERANCE = 0.006
KIND = {
    OrderType.STP: "stop",
    OrderType.STP_LMT: "stop",
    OrderType.TRAIL: "trail",
    OrderType.LMT: "target",
    OrderType.MKT: "time",
}


def _levels(protective: list[Order]) -> TradeLevels:
    stop = next((p for p in protective if p.order_type in (OrderType.STP, OrderType.STP_LMT)), None)
    trail = next((p for p in protective if p.order_type is OrderType.TRAIL), None)
    target = next((p for p in protective if p.order_type is OrderType.LMT), None)
    nan = np.nan
    return TradeLevels(
        np.array([stop.stop_price if stop and stop.stop_price else nan]),
        np.array([target.limit_price if target and target.limit_price else nan]),
        np.array([trail.trail_amount if trail and trail.trail_amount else nan]),
        np.array([trail.trail_percent if trail and trail.trail_percent else nan]),
    )


@pytest.mark.slow
async def test_live_protection_exits_where_the_model_does(tmp_path: Path, shipped: MarketData) -> None:
    env = {"ONETAP_REPLAY__STEPS_PER_DAY": "30", "ONETAP_RISK__MAX_ORDERS_PER_DAY": "1000"}
    engine = Engine(load_settings(environ=env), database=tmp_path / "onetap.db", market=shipped, paced=False)
    await engine.start()
    cards: dict[str, StrategyCard] = {}
    for _ in range(SESSIONS):
        await engine.step(1)  # the session's first quote: entries fill near the open
        held = {c.legs[0].symbol for c in cards.values()}
        for card in list(engine.cards):
            single = len(card.legs) == 1 and card.legs[0].side is Side.BUY
            wanted = single and card.exit_policy is not None and bool(card.stop_price)
            if wanted and card.legs[0].symbol not in held:
                result = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
                if result.ok:
                    cards[card.card_id] = card
                    held.add(card.legs[0].symbol)
        await engine.step_day()
    orders, fills = engine.store.load_orders(), engine.store.load_fills()
    await engine.stop()

    fills_of = collections.defaultdict(list)
    for fill in fills:
        fills_of[fill.client_order_id].append(fill)
    compared: collections.Counter[str] = collections.Counter()
    for entry in orders:
        card = cards.get(entry.card_id or "")
        if card is None or entry.protects or not fills_of[entry.client_order_id]:
            continue
        protective = [o for o in orders if o.protects == entry.client_order_id]
        assert protective, f"{entry.client_order_id} ({card.template}) was never protected"
        exited = [o for o in protective if o.status is OrderStatus.FILLED]
        if not exited:
            continue  # still open when the replay stopped
        bars = shipped.bars[entry.symbol]
        day = fills_of[entry.client_order_id][0].ts.astimezone(NEW_YORK).date()
        f = int(bars.index.get_loc(pd.Timestamp(day)))
        fill = bars["open"].to_numpy().copy()
        assert entry.avg_fill_price is not None
        fill[f] = entry.avg_fill_price
        assert card.exit_policy is not None
        model = exit_trades(
            bars["open"].to_numpy(),
            bars["high"].to_numpy(),
            bars["low"].to_numpy(),
            bars["close"].to_numpy(),
            signal_bars=np.array([f - 1]),
            weights=np.array([1.0]),
            levels=_levels(protective),
            horizon=card.horizon_days,
            time_exit=card.exit_policy.time_exit,
            fill=fill,
        )
        (out,) = exited
        out_day = fills_of[out.client_order_id][-1].ts.astimezone(NEW_YORK).date()
        live_bar = int(bars.index.get_loc(pd.Timestamp(out_day)))
        what = f"{card.template} {entry.symbol} entered {day}"
        assert live_bar == int(model.bar[0]), (
            f"{what}: live exit on bar {live_bar}, the model's {model.bar[0]}"
        )
        assert KIND[out.order_type] == ExitReason(int(model.reason[0])).label, what
        assert out.avg_fill_price == pytest.approx(float(model.price[0]), rel=TOLERANCE), what
        compared[card.template] += 1
    assert len(compared) >= 2 and sum(compared.values()) >= 4, f"too few exits to compare: {dict(compared)}"
