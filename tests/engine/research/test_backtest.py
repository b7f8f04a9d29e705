"""The vectorized backtester: no look-ahead, exact cost accounting, a cash account that never borrows."""

from __future__ import annotations

import numpy as np
import pytest

from engine.research.backtest import (
    BacktestConfig,
    Costs,
    run_template,
    setup_weights,
    simulate,
    simulate_columns,
)
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel

FREE = Costs(per_share=0.0, per_value=0.0, slippage_bps=0.0)


@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index <= np.datetime64("2013-03-01")]) for s, f in bars.items()}


def _one(panel: Panel, sym: str = "IBM") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = panel[sym]
    return b.dates, b.open[:, None].copy(), b.close[:, None].copy()


def test_holding_from_the_second_bar_is_buy_and_hold(panel: Panel) -> None:
    dates, open_, close = _one(panel)
    target = np.ones_like(close)
    target[0] = 0.0
    bt = simulate(dates, ["IBM"], open_, close, target, BacktestConfig(costs=FREE, rebalance_threshold=1.0))
    expected = 100_000.0 / open_[1, 0] * close[1:, 0]
    np.testing.assert_allclose(bt.equity[1:], expected, rtol=1e-12)
    assert bt.equity[0] == 100_000.0 and np.count_nonzero(bt.traded) == 1


def test_costs_are_charged_exactly_on_what_is_traded(panel: Panel) -> None:
    dates, open_, close = _one(panel)
    dates, open_, close = dates[:10], open_[:10], close[:10]
    target = np.zeros_like(close)
    target[2:5] = 0.5  # buy at bar 2's open, sell at bar 5's open
    costs = Costs(per_share=0.01, per_value=0.0002, slippage_bps=3.0)
    bt = simulate(dates, ["IBM"], open_, close, target, BacktestConfig(costs=costs, rebalance_threshold=1.0))
    buy_price, sell_price = open_[2, 0], open_[5, 0]
    qty = 0.5 * 100_000.0 / buy_price
    fee_rate = 0.0002 + 3e-4
    buy_fee = qty * 0.01 + qty * buy_price * fee_rate
    sell_fee = qty * 0.01 + qty * sell_price * fee_rate
    assert bt.traded[2, 0] == pytest.approx(qty) and bt.traded[5, 0] == pytest.approx(-qty)
    assert bt.costs[2] == pytest.approx(buy_fee) and bt.costs[5] == pytest.approx(sell_fee)
    final = 100_000.0 - qty * buy_price - buy_fee + qty * sell_price - sell_fee
    assert bt.equity[-1] == pytest.approx(final, rel=1e-12)


def test_a_cash_account_never_borrows(panel: Panel) -> None:
    dates, open_, close = _one(panel)
    target = np.ones_like(close)  # all in, with costs to pay on top
    bt = simulate(
        dates[:50], ["IBM"], open_[:50], close[:50], target[:50], BacktestConfig(rebalance_threshold=0.0)
    )
    assert bt.cash.min() >= -1e-6


def test_a_signal_acts_on_the_next_bar_only(panel: Panel) -> None:
    template = TEMPLATES["momentum"]
    (setup,) = template.build({"IBM": panel["IBM"]}, template.params())
    w = setup_weights(setup, template.horizon_days)
    first = int(np.flatnonzero(setup.entry)[0])
    assert w[first, 0] == 0.0 and w[first + 1, 0] == 1.0


@pytest.mark.parametrize("name", ["momentum", "mean_reversion", "breakout", "trend", "options"])
def test_changing_the_future_changes_nothing_before_it(panel: Panel, name: str) -> None:
    """Scramble the last 60 bars of every symbol: equity before them is identical."""
    rng = np.random.default_rng(3)
    cut = 60
    shocked: dict[str, Bars] = {}
    for sym, b in panel.items():
        k = rng.uniform(0.7, 1.3, cut)
        o, h, lo, c = (x.copy() for x in (b.open, b.high, b.low, b.close))
        for arr in (o, h, lo, c):
            arr[-cut:] *= k
        shocked[sym] = Bars(sym, b.dates, o, h, lo, c, b.volume)
    template = TEMPLATES[name]
    base, moved = run_template(template, panel), run_template(template, shocked)
    first_changed = (
        len(base.dates) - 1 - np.argmax(base.dates[::-1] < min(b.dates[-cut] for b in panel.values()))
    )
    np.testing.assert_array_equal(base.equity[:first_changed], moved.equity[:first_changed])
    assert not np.array_equal(base.equity, moved.equity)


def test_stress_reaches_the_strategy_book_through_betas(panel: Panel) -> None:
    from engine.config import load_settings
    from engine.research.runs import benchmark_bars, run_backtest, strategy_stress

    run = run_backtest("trend", {s: panel[s] for s in ("IBM", "MSFT")})
    stress = strategy_stress(run, panel, benchmark_bars(load_settings()))
    by_name = {r.scenario: r for r in stress.largest}
    assert (
        by_name["2008"].pnl < 0 < abs(by_name["2008"].pnl) and by_name["2008"].pnl < by_name["correction"].pnl
    )
    assert stress.largest_day >= str(run.backtest.dates[0])


def test_simulate_columns_runs_each_account_as_simulate_alone() -> None:
    """K independent accounts in one call: each equals ``simulate`` on its own column, with costs
    and a drift threshold, over one price column shared by all and over one column each."""
    rng = np.random.default_rng(5)
    n_bars = 300
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_bars, 3)), axis=0))
    fill = close * (1.0 + rng.normal(0.0, 0.002, close.shape))
    target = np.repeat(rng.random((n_bars // 10, 6)) > 0.5, 10, axis=0) * rng.uniform(0.3, 1.0, 6)
    config = BacktestConfig(
        costs=Costs(per_share=0.01, per_value=0.0005, slippage_bps=2.0), rebalance_threshold=0.05
    )
    dates = np.arange(n_bars).astype("datetime64[D]")
    equity = simulate_columns(fill, close, target, config)
    for k in range(6):
        c = k % 3
        alone = simulate(dates, ("X",), fill[:, c : c + 1], close[:, c : c + 1], target[:, k : k + 1], config)
        np.testing.assert_array_equal(equity[:, k], alone.equity)
    assert not np.allclose(equity[:, 0], equity[:, 3])  # the accounts really differ
    shared = simulate_columns(fill[:, :1], close[:, :1], target, config)
    one = simulate(dates, ("X",), fill[:, :1], close[:, :1], target[:, 4:5], config)
    np.testing.assert_array_equal(shared[:, 4], one.equity)
    with pytest.raises(ValueError, match="do not divide"):
        simulate_columns(fill[:, :2], close[:, :2], target[:, :3], config)


def test_one_symbol_runs_as_the_many_symbol_account_does(panel: Panel) -> None:
    """A one-symbol account (state in registers) and the N-symbol one given the same symbol
    and a second that is never traded: the same equity and the same ledger, bit for bit, with
    costs, a drift threshold and exits within bars."""
    dates, open_, close = _one(panel)
    n = 400
    dates, open_, close = dates[:n], open_[:n], close[:n]
    rng = np.random.default_rng(11)
    target = np.repeat(rng.random((n // 8, 1)) > 0.4, 8, axis=0) * 0.8
    exit_w = np.where(rng.random(target.shape) < 0.05, target * 0.5, 0.0)
    exit_px = np.where(exit_w != 0.0, close * 0.99, np.nan)
    config = BacktestConfig(costs=Costs(per_share=0.01, per_value=0.0005, slippage_bps=2.0))
    one = simulate(dates, ["IBM"], open_, close, target, config, exit_w, exit_px)
    two = simulate(
        dates,
        ["IBM", "NONE"],
        np.hstack([open_, open_ * 2.0]),
        np.hstack([close, close * 2.0]),
        np.hstack([target, np.zeros_like(target)]),
        config,
        np.hstack([exit_w, np.zeros_like(exit_w)]),
        np.hstack([exit_px, np.full_like(exit_px, np.nan)]),
    )
    assert np.count_nonzero(one.exit_traded) > 0 and np.count_nonzero(one.traded) > 10
    np.testing.assert_array_equal(one.equity, two.equity)
    for name in ("cash", "costs"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    for name in ("shares", "traded", "exit_traded"):
        np.testing.assert_array_equal(getattr(one, name)[:, 0], getattr(two, name)[:, 0])
        assert not getattr(two, name)[:, 1].any()


def test_the_ledger_is_computed_once_on_first_use_and_agrees_with_the_equity(panel: Panel) -> None:
    dates, open_, close = _one(panel)
    target = np.zeros_like(close)
    target[10:200] = 0.6
    bt = simulate(dates, ["IBM"], open_, close, target, BacktestConfig())
    assert not bt.replay.cache  # a run that reads only its equity never builds the ledger
    ledger = bt.ledger
    assert bt.ledger is ledger and bt.cash is ledger.cash
    np.testing.assert_array_equal(bt.equity, ledger.cash + ledger.shares[:, 0] * close[:, 0])
    assert ledger.costs.sum() > 0 and np.count_nonzero(ledger.traded) >= 2


def test_shapes_that_do_not_match_are_named(panel: Panel) -> None:
    dates, open_, close = _one(panel)
    with pytest.raises(ValueError, match=r"target \(\d+, 2\)"):
        simulate(dates, ["IBM"], open_, close, np.zeros((len(close), 2)))
    with pytest.raises(ValueError, match="2 symbols"):
        simulate(dates, ["IBM", "MSFT"], open_, close, np.zeros_like(close))
