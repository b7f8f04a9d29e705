"""One strategy code path: a template traded by the live engine agrees with the backtester.

Eighty sessions of shipped data are replayed through the engine (replay feed, paper broker, order
manager, risk checks, database). Before each session's second quote the template's target
weights are computed from the bars the engine's feed has before that session, by the same
``run_template`` the backtester runs, and the engine trades to them through ``rebalance_to``
(one group execution, every leg checked and persisted). The backtester runs the same template
over the same sessions. The trades must be the same (day, symbol, side), and final equity must
agree within 0.5%: the only differences are the fill prices (the engine fills at the next
intraday quote's bid/ask with the paper broker's slippage and $1 minimum commission, the
backtester at the open) and the quantities that follow from them. The template runs without its
exit policy's stops (``exits=False``): this test is about the target-weight path.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from engine.actor import ENGINE
from engine.config import load_settings
from engine.kernel import Engine
from engine.research.backtest import BacktestConfig, Costs, price_matrix, run_template, simulate
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars
from tests.shipped import shipped_market

SYMBOLS = ["IBM", "AMZN"]
SESSIONS = 80
STEPS = 20
CONFIG = BacktestConfig(
    fill="open",
    costs=Costs(per_share=0.005, per_value=0.0, slippage_bps=1.0),
    rebalance_threshold=1.0,
    slots=2,
    # target weights only: rebalance_to places no protective orders (the engine's protection
    # manager does, on entry fills; its agreement with the exit model is tested with it)
    exits=False,
)
NEW_YORK = ZoneInfo("America/New_York")


def _with_todays_placeholder(frame: pd.DataFrame, day: pd.Timestamp, symbol: str) -> Bars:
    """The bars before ``day`` plus a copy of the last one dated ``day``: the decision for ``day``
    is the backtester's weight row for it, which reads bars before it only (tested elsewhere)."""
    placeholder = frame.iloc[[-1]].copy()
    placeholder.index = pd.DatetimeIndex([day])
    return Bars.from_frame(symbol, pd.concat([frame, placeholder]))


async def test_the_engine_trades_what_the_backtester_trades(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "ONETAP_UNIVERSE__SYMBOLS": '["IBM", "AMZN"]',
            "ONETAP_REPLAY__START": "2012-03-01",
            "ONETAP_REPLAY__STEPS_PER_DAY": str(STEPS),
            "ONETAP_RISK__MAX_POSITION_PCT": "0.6",
            "ONETAP_RISK__MAX_SECTOR_PCT": "1.0",
            "ONETAP_RISK__MAX_ORDER_VALUE": "100000",
            "ONETAP_BROKER__SETTLEMENT_DAYS": "0",
            # the backtester has no circuit breakers: wide limits keep the engine's out of the way
            "ONETAP_RISK__DAILY_LOSS_LIMIT_PCT": "1.0",
            "ONETAP_RISK__DRAWDOWN_LIMIT_PCT": "1.0",
            "ONETAP_RISK__VAR_LIMIT_PCT": "1.0",
            "ONETAP_RISK__MAX_CONSECUTIVE_LOSSES": "1000",
        }
    )
    market = shipped_market()
    template = TEMPLATES["trend"]
    engine = Engine(settings, database=tmp_path / "db" / "onetap.db", market=market, paced=False)
    await engine.start()
    days: list[pd.Timestamp] = []
    previous: dict[str, float] | None = None
    try:
        for _ in range(SESSIONS):
            await engine.step(1)  # the session opens: its first quote
            day = pd.Timestamp(engine.feed.current_day)
            days.append(day)
            panel = {
                s: _with_todays_placeholder(engine.feed.history(s, before=day.date()), day, s)
                for s in SYMBOLS
            }
            row = run_template(template, panel, None, CONFIG)
            targets = {s: float(w) for s, w in zip(row.symbols, row.weights[-1], strict=True)}
            # like the backtester (rebalance_threshold=1.0): a symbol is traded when its target
            # changes, and a held weight is left to drift
            changed = {s: w for s, w in targets.items() if previous is None or previous[s] != w}
            if changed and any(w != 0 or previous is not None for w in changed.values()):
                result = await engine.rebalance_to(changed, ENGINE, strategy="trend")
                assert result.ok, result.message
            previous = targets
            await engine.step(STEPS - 1)
        live_equity = engine.ledger.account().equity
        fills = engine.store.load_fills()
    finally:
        await engine.stop()

    full = {s: Bars.from_frame(s, market.bars[s].loc[: days[-1]]) for s in SYMBOLS}
    research = run_template(template, full, None, CONFIG)
    window = np.isin(research.dates, np.array([d.to_datetime64() for d in days], dtype="datetime64[D]"))
    first = int(np.flatnonzero(window)[0])
    opens = price_matrix(full, research.dates, research.symbols, "open")[first:]
    closes = price_matrix(full, research.dates, research.symbols, "close")[first:]
    bt = simulate(research.dates[first:], research.symbols, opens, closes, research.weights[first:], CONFIG)

    backtested = {
        (str(research.dates[first + t]), research.symbols[i], "BUY" if bt.traded[t, i] > 0 else "SELL")
        for t, i in zip(*np.nonzero(bt.traded), strict=True)
    }
    live = {(f.ts.astimezone(NEW_YORK).date().isoformat(), f.symbol, f.side.value) for f in fills}
    assert backtested, "the window holds no trade: pick a livelier one"
    assert live == backtested
    assert abs(live_equity / bt.equity[-1] - 1.0) < 0.005, (live_equity, bt.equity[-1])
