"""The one exit model: each rule of ``engine.strategies.exits`` on hand-made bars, the array
resolver against ``resolve_levels``, and the backtester and the track record exiting the same
trades at the same bars and prices on the shipped data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model.enums import Side
from engine.model.exits import ExitPolicy, StopRule, TimeExit, resolve_levels
from engine.research.backtest import BacktestConfig, Costs, run_template, setup_trades
from engine.signals.indicators import atr_at
from engine.strategies.exits import ExitReason, TradeLevels, exit_trades, resolve_arrays
from engine.strategies.outcomes import setup_outcomes
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel

NAN = float("nan")


def bars(*rows: tuple[float, float, float, float]) -> tuple[np.ndarray, ...]:
    """(open, high, low, close) columns from rows."""
    a = np.array(rows, dtype=np.float64)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def one(
    rows: list[tuple[float, float, float, float]],
    *,
    stop: float = NAN,
    target: float = NAN,
    trail_amount: float = NAN,
    trail_percent: float = NAN,
    horizon: int = 100,
    time_exit: TimeExit = TimeExit.CLOSE,
    rule: list[bool] | None = None,
    weight: float = 1.0,
) -> tuple[int, float, str]:
    """A trade signalled at bar 0 (filled at bar 1's open): (exit bar, exit price, reason)."""
    o, h, lo, c = bars(*rows)
    levels = TradeLevels(
        np.array([stop]), np.array([target]), np.array([trail_amount]), np.array([trail_percent])
    )
    ex = exit_trades(
        o,
        h,
        lo,
        c,
        signal_bars=np.array([0], dtype=np.int64),
        weights=np.array([weight]),
        levels=levels,
        horizon=horizon,
        time_exit=time_exit,
        exit_rule=None if rule is None else np.array(rule),
    )
    return int(ex.bar[0]), round(float(ex.price[0]), 9), ex.reasons()[0]  # prices go through returns


FLAT = (100.0, 101.0, 99.0, 100.0)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    rows = [FLAT, FLAT, (90.0, 91.0, 88.0, 90.0), FLAT]
    assert one(rows, stop=95.0) == (2, 90.0, "stop")


def test_a_touch_fills_at_the_stop_and_the_stop_wins_over_the_target() -> None:
    assert one([FLAT, FLAT, (100.0, 103.0, 94.0, 100.0)], stop=95.0) == (2, 95.0, "stop")
    assert one([FLAT, FLAT, (100.0, 106.0, 99.0, 100.0)], stop=95.0, target=105.0) == (2, 105.0, "target")
    both = (100.0, 106.0, 94.0, 100.0)
    assert one([FLAT, FLAT, both], stop=95.0, target=105.0) == (2, 95.0, "stop")
    assert one([FLAT, FLAT, (107.0, 108.0, 106.0, 107.0)], stop=95.0, target=105.0) == (2, 107.0, "target")


def test_the_fill_bar_is_checked_after_the_fill() -> None:
    """Filled at bar 1's open: bar 1's range comes after the fill, so it can stop the trade."""
    assert one([FLAT, (100.0, 101.0, 94.0, 100.0), FLAT], stop=95.0) == (1, 95.0, "stop")
    # the exit rule at the fill bar's close is read too: out at the next open
    assert one([FLAT, FLAT, (102.0, 103.0, 101.0, 102.0)], rule=[False, True, False]) == (2, 102.0, "rule")
    # a stop already through the fill (the open gapped under the template's level): out at the fill
    assert one([FLAT, (94.0, 96.0, 93.0, 95.0), FLAT], stop=95.0) == (1, 94.0, "stop")


def test_a_trailing_stop_ratchets_after_the_bars_own_checks_then_fires() -> None:
    rows = [
        FLAT,
        (100.0, 100.0, 99.0, 100.0),  # filled at the open, 100, trail 5: stop 95
        (100.0, 110.0, 96.0, 108.0),  # low 96 > 95: held; then the high ratchets the stop to 105
        (108.0, 109.0, 104.0, 106.0),  # 104 < 105: out at 105
    ]
    assert one(rows, stop=95.0, trail_amount=5.0) == (3, 105.0, "trail")
    rows_pct = [FLAT, (100.0, 100.0, 99.0, 100.0), (100.0, 120.0, 99.0, 118.0), (118.0, 118.0, 107.0, 110.0)]
    bar, price, reason = one(rows_pct, stop=90.0, trail_percent=10.0)
    assert (bar, price, reason) == (3, 108.0, "trail")


def test_a_short_trade_mirrors_a_long_one() -> None:
    rows = [FLAT, FLAT, (100.0, 106.0, 99.0, 100.0)]
    assert one(rows, stop=105.0, weight=-1.0) == (2, 105.0, "stop")
    trail = [FLAT, (100.0, 101.0, 100.0, 100.0), (100.0, 101.0, 90.0, 92.0), (92.0, 96.0, 91.0, 95.0)]
    assert one(trail, stop=105.0, trail_amount=5.0, weight=-1.0) == (3, 95.0, "trail")


def test_the_time_exit_fills_at_the_horizons_last_close_or_the_next_open() -> None:
    rows = [FLAT, FLAT, (100.0, 101.0, 99.0, 100.5), (101.0, 102.0, 100.0, 101.5), FLAT]
    assert one(rows, horizon=2) == (2, 100.5, "time")  # bars 1 and 2 held
    assert one(rows, horizon=2, time_exit=TimeExit.NEXT_OPEN) == (3, 101.0, "time")
    assert one(rows, horizon=2, time_exit=TimeExit.NONE)[2] == "end-of-data"


def test_a_trade_open_at_the_end_is_not_complete() -> None:
    bar, price, reason = one([FLAT, FLAT, FLAT], stop=90.0)
    assert bar == -1 and reason == ExitReason.END.label and np.isnan(price)
    # decided at the last close, filled at an open that does not exist yet: not complete either
    assert one([FLAT, FLAT, FLAT], rule=[False, False, True])[0] == -1


POLICIES = [
    ExitPolicy(StopRule.ATR, 2.0, 2.0),
    ExitPolicy(StopRule.PERCENT, 5.0, 1.5),
    ExitPolicy(StopRule.PRICE, 0.0, 2.0),
    ExitPolicy(StopRule.TRAIL_AMOUNT, 3.0, None),
    ExitPolicy(StopRule.TRAIL_PERCENT, 4.0, 3.0),
    ExitPolicy(StopRule.TRAIL_ATR, 3.0, None),
    ExitPolicy(StopRule.NONE, 0.0, None),
]


@given(
    entry=st.floats(5.0, 500.0),
    atr_share=st.floats(0.001, 0.04),
    stop_gap=st.floats(0.01, 0.3),
    policy=st.sampled_from(POLICIES),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_the_array_resolver_is_resolve_levels(
    entry: float, atr_share: float, stop_gap: float, policy: ExitPolicy, side: Side
) -> None:
    atr = entry * atr_share
    card_stop = entry * (1.0 - side.sign * stop_gap)
    want = resolve_levels(policy, side, entry, atr=atr, card_stop=card_stop)
    got = resolve_arrays(
        policy, float(side.sign), np.array([entry]), atr=np.array([atr]), card_stop=np.array([card_stop])
    )
    for ours, theirs in (
        (got.stop[0], want.stop_price),
        (got.target[0], want.target_price),
        (got.trail_amount[0], want.trail_amount),
        (got.trail_percent[0], want.trail_percent),
    ):
        if theirs is None:
            assert np.isnan(ours)
        else:
            assert ours == pytest.approx(theirs, rel=1e-12)


# --------------------------------------------------------------------- the shipped data
@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_market

    return {s: Bars.from_frame(s, f) for s, f in shipped_market().bars.items()}


@pytest.mark.parametrize("name", ["momentum", "trend", "breakout", "mean_reversion"])
def test_the_backtester_and_the_track_record_exit_the_same_trades_alike(panel: Panel, name: str) -> None:
    """Every trade the backtester takes is in the track record with the same exit bar and price.

    Same data, same entry fills (the next open): the track record keeps every signal and the
    backtester only those taken while flat, so the comparison is over the backtester's trades.
    """
    template = TEMPLATES[name]
    eligible = {s: b for s, b in panel.items() if len(b) >= template.min_history}
    compared = protected = 0
    for setup in template.build(eligible, template.params()):
        taken = setup_trades(setup, template.horizon_days, template.exit_policy)
        record = setup_outcomes(setup, template.horizon_days, None, template.exit_policy)
        by_entry = {
            int(t): (int(j), float(setup.open[t + 1, 0] * (1.0 + r)))
            for t, j, r in zip(record.entries, record.exits, record.returns, strict=True)
        }
        done = taken.exits.done
        for t, j, price, reason in zip(
            taken.signals[done],
            taken.exits.bar[done],
            taken.exits.price[done],
            taken.exits.reason[done],
            strict=True,
        ):
            assert int(t) in by_entry, (setup.key, int(t))
            bar, recorded = by_entry[int(t)]
            assert bar == int(j), (setup.key, int(t))
            assert recorded == pytest.approx(float(price), rel=1e-12), (setup.key, int(t))
            compared += 1
            protected += reason in (ExitReason.STOP, ExitReason.TARGET, ExitReason.TRAIL)
    assert compared > 100 and protected > 10, (compared, protected)


def test_the_simulated_account_fills_the_exits_where_the_model_puts_them(panel: Panel) -> None:
    """One symbol, no costs: every exit within a bar is a fill at the model's bar and price."""
    template = TEMPLATES["trend"]
    one_symbol = {"IBM": panel["IBM"]}
    free = BacktestConfig(costs=Costs(0.0, 0.0, 0.0), rebalance_threshold=1.0, slots=1)
    bt = run_template(template, one_symbol, None, free)
    (setup,) = template.build(one_symbol, template.params())
    taken = setup_trades(setup, template.horizon_days, template.exit_policy)
    intrabar = taken.exits.intrabar & taken.exits.done
    want = {
        (int(j), round(float(p), 9))
        for j, p in zip(taken.exits.bar[intrabar], taken.exits.price[intrabar], strict=True)
    }
    sold = np.flatnonzero(bt.exit_traded[:, 0] < 0)
    got = {(int(j), round(float(bt.exit_prices[j, 0]), 9)) for j in sold}
    assert len(want) > 20 and got == want
    assert np.all(bt.shares[sold, 0] == 0.0)  # the whole position left


def test_without_exits_no_protective_order_fires(panel: Panel) -> None:
    template = TEMPLATES["trend"]
    with_exits = run_template(template, panel)
    without = run_template(template, panel, None, BacktestConfig(exits=False))
    assert with_exits.exit_reasons.get("trail", 0) > 50
    assert set(without.exit_reasons) <= {"time", "rule", "end-of-data"}
    assert not np.array_equal(with_exits.equity, without.equity)


def test_atr_at_is_the_setups_atr_at_its_last_bar(panel: Panel) -> None:
    from tests.shipped import shipped_market

    frame = shipped_market().bars["IBM"]
    (setup,) = TEMPLATES["momentum"].build({"IBM": panel["IBM"]}, TEMPLATES["momentum"].params())
    assert setup.atr is not None
    assert atr_at(frame) == pytest.approx(float(setup.atr[-1]), rel=1e-12)
    assert atr_at(frame.iloc[:200]) == pytest.approx(float(setup.atr[199]), rel=1e-12)
    assert np.isnan(atr_at(frame.iloc[:5]))
    with pytest.raises(ValueError, match="missing high"):
        atr_at(pd.DataFrame({"close": [1.0]}))
