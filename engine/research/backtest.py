"""The vectorized backtester: any template's setups, run as a cash account over their bars.

Two numba kernels, one rule each:

1. ``setup_weights``: one setup's target weights bar by bar, from the same ``Setup`` arrays the
   card generator reads (so research has no strategy logic of its own). A signal at the close
   of bar t is acted on at bar t+1 (positions lag signals by one bar, by construction); the trade
   ends on the first close where its return from the entry fill reaches the stop or the target,
   where the exit rule holds, or ``horizon`` bars after the signal, and is closed at the next
   bar's fill. A setup is in one trade at a time.
2. ``simulate``: a cash account that trades toward target weights at each bar's fill price (the
   open by default, or the close), paying commission per share and per value and slippage in
   bps on what it trades, letting a held weight drift until it is a threshold away, never
   borrowing (buys are scaled to the cash there is), fractional shares allowed. Equity is
   marked at each close.

The options template is backtested on its stock leg only: option fills need option prices,
which daily bars do not have (the card generator's track record models the option instead).

A template over a universe gives each setup a slot of ``1 / slots`` of equity, so the book is
never levered: with more setups in trades than slots, the weights are scaled down together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.strategies.templates.base import Array, Panel, Params, Setup, Template


@dataclass(frozen=True, slots=True)
class Costs:
    """What trading costs: commission per share and per value traded, slippage against the fill."""

    per_share: float = 0.005
    per_value: float = 0.0
    slippage_bps: float = 1.0


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    fill: str = "open"
    """"open": act at the next bar's open; "close": at the next bar's close."""
    costs: Costs = Costs()
    rebalance_threshold: float = 0.05
    """A held target is traded back to only when the weight has drifted this far (a share of
    equity); a new target (an entry, an exit, a rotation) is always traded to exactly."""
    start_equity: float = 100_000.0
    slots: int = 5
    """Setups that may be in a trade at full size at once (each gets 1/slots of equity)."""


DEFAULT_CONFIG = BacktestConfig()


@numba.njit(cache=True, nogil=True)
def _setup_weights(
    close: Array,
    fill: Array,
    weights: Array,
    entry: NDArray[np.bool_],
    exit_rule: NDArray[np.bool_],
    stop: Array,
    target: Array,
    horizon: int,
) -> Array:
    """Target weights ``[T, k]`` that hold at bar t (decided at the close of t-1, traded at t's fill)."""
    n_bars, k = close.shape
    out = np.zeros((n_bars, k))
    in_trade = False
    signal_bar = -1
    filled_at = -1
    for t in range(n_bars - 1):
        if in_trade:
            r = 0.0
            for i in range(k):
                w = weights[signal_bar, i]
                if w != 0.0:
                    r += w * (close[t, i] / fill[filled_at, i] - 1.0)
            if (
                r <= -stop[signal_bar]
                or r >= target[signal_bar]
                or (exit_rule[t] and t > filled_at)
                or t >= signal_bar + horizon
            ):
                in_trade = False  # flat from t + 1
            else:
                for i in range(k):
                    out[t + 1, i] = weights[signal_bar, i]
                continue
        if entry[t]:
            in_trade = True
            signal_bar = t
            filled_at = t + 1
            for i in range(k):
                out[t + 1, i] = weights[t, i]
    return out


def setup_weights(setup: Setup, horizon: int, fill: str = "open") -> Array:
    """The setup's target weights over its own bars (see the module docstring for the rules)."""
    fill_prices = setup.open if fill == "open" else setup.close
    result: Array = _setup_weights(
        np.ascontiguousarray(setup.close),
        np.ascontiguousarray(fill_prices),
        np.ascontiguousarray(setup.weights),
        setup.entry,
        setup.exit,
        setup.stop,
        setup.target,
        horizon,
    )
    return result


@numba.njit(cache=True, nogil=True)
def _simulate(
    fill: Array,
    close: Array,
    target: Array,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
) -> tuple[Array, Array, Array, Array, Array]:
    n_bars, n = close.shape
    equity = np.empty(n_bars)
    shares = np.zeros((n_bars, n))
    traded = np.zeros((n_bars, n))
    costs = np.zeros(n_bars)
    cash_path = np.empty(n_bars)
    cash = start_equity
    held = np.zeros(n)
    for t in range(n_bars):
        value = cash
        for i in range(n):
            if held[i] != 0.0:
                value += held[i] * fill[t, i]
        # sells first, so their cash pays for the buys
        for phase in range(2):
            for i in range(n):
                price = fill[t, i]
                if not price > 0.0:
                    continue
                want = target[t, i] * value / price
                delta = want - held[i]
                current_w = held[i] * price / value if value > 0 else 0.0
                unchanged = t > 0 and target[t, i] == target[t - 1, i]
                if unchanged and abs(target[t, i] - current_w) < threshold:
                    continue  # only drift since the last decision, and not enough of it
                if (phase == 0 and delta >= 0.0) or (phase == 1 and delta <= 0.0):
                    continue
                if delta > 0.0:  # a buy: never more than the cash pays for, costs included
                    unit = price * (1.0 + slippage + per_value) + per_share
                    delta = min(delta, max(cash, 0.0) / unit)
                    if delta <= 0.0:
                        continue
                    fee = delta * per_share + delta * price * (per_value + slippage)
                    cash -= delta * price + fee
                else:
                    qty = -delta
                    fee = qty * per_share + qty * price * (per_value + slippage)
                    cash += qty * price - fee
                held[i] += delta
                traded[t, i] = delta
                costs[t] += fee
        mark = cash
        for i in range(n):
            shares[t, i] = held[i]
            if held[i] != 0.0:
                mark += held[i] * close[t, i]
        equity[t] = mark
        cash_path[t] = cash
    return equity, shares, traded, costs, cash_path


@dataclass(frozen=True, slots=True)
class Backtest:
    """What a run produced, bar by bar, with the symbols as columns."""

    dates: NDArray[np.datetime64]
    symbols: tuple[str, ...]
    equity: Array
    cash: Array
    shares: Array
    traded: Array
    costs: Array
    weights: Array
    """The target weights the account traded toward."""
    trade_returns: Array = field(default_factory=lambda: np.empty(0))
    """Each setup trade's return from its entry fill to its exit fill, before costs (run_template)."""
    trade_entries: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The bar (row of ``dates``) each of ``trade_returns`` entered on: a walk-forward counts the
    trades that entered in its out-of-sample windows by it."""

    @property
    def returns(self) -> Array:
        out = np.zeros(len(self.equity))
        out[1:] = self.equity[1:] / self.equity[:-1] - 1.0
        return out

    def trades(self, fill_prices: Array) -> pd.DataFrame:
        """Every fill: date, symbol, quantity (signed) and price."""
        t_idx, s_idx = np.nonzero(self.traded)
        return pd.DataFrame(
            {
                "date": pd.to_datetime(self.dates[t_idx]),
                "symbol": [self.symbols[i] for i in s_idx],
                "quantity": self.traded[t_idx, s_idx],
                "price": fill_prices[t_idx, s_idx],
            }
        )

    def frame(self) -> pd.DataFrame:
        """Equity, cash and costs by date."""
        index = pd.DatetimeIndex(pd.to_datetime(self.dates), name="date")
        return pd.DataFrame({"equity": self.equity, "cash": self.cash, "costs": self.costs}, index=index)


def simulate(
    dates: NDArray[np.datetime64],
    symbols: Sequence[str],
    fill: Array,
    close: Array,
    target: Array,
    config: BacktestConfig = DEFAULT_CONFIG,
) -> Backtest:
    """Trade toward ``target`` weights (``[T, N]``; a bar's weights are traded at its fill price)."""
    c = config.costs
    equity, shares, traded, costs, cash = _simulate(
        np.ascontiguousarray(fill, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(target, dtype=np.float64),
        float(config.start_equity),
        float(c.per_share),
        float(c.per_value),
        float(c.slippage_bps) * 1e-4,
        float(config.rebalance_threshold),
    )
    return Backtest(dates, tuple(symbols), equity, cash, shares, traded, costs, target)


def sessions_and_symbols(panel: Panel) -> tuple[NDArray[np.datetime64], tuple[str, ...]]:
    symbols = tuple(sorted(panel))
    dates = panel[symbols[0]].dates
    for sym in symbols[1:]:
        dates = np.union1d(dates, panel[sym].dates)
    return dates, symbols


def price_matrix(panel: Panel, dates: NDArray[np.datetime64], symbols: tuple[str, ...], field: str) -> Array:
    """``[T, N]`` of one bar field on the union of sessions; a symbol's missing bars carry its
    last value forward (its weight is 0 there, so only its mark uses it)."""
    out = np.full((len(dates), len(symbols)), np.nan)
    for j, sym in enumerate(symbols):
        bars = panel[sym]
        idx = np.searchsorted(dates, bars.dates)
        out[idx, j] = getattr(bars, field)
    return pd.DataFrame(out).ffill().to_numpy()


def run_template(
    template: Template,
    panel: Panel,
    params: Params | None = None,
    config: BacktestConfig = DEFAULT_CONFIG,
) -> Backtest:
    """The template's setups on ``panel`` as one cash account (each setup a ``1/slots`` slot)."""
    p = params or template.params()
    dates, symbols = sessions_and_symbols(panel)
    column = {s: j for j, s in enumerate(symbols)}
    target = np.zeros((len(dates), len(symbols)))
    eligible = {s: b for s, b in panel.items() if len(b) >= template.min_history}
    trade_returns: list[Array] = []
    trade_entries: list[NDArray[np.int64]] = []
    for setup in template.build(eligible, p) if eligible else []:
        raw = setup_weights(setup, template.horizon_days, config.fill)
        rows = np.searchsorted(dates, setup.dates)
        starts, returns = _trades(raw, setup.open if config.fill == "open" else setup.close)
        trade_returns.append(returns)
        trade_entries.append(rows[starts].astype(np.int64))
        w = raw / config.slots
        for i, sym in enumerate(setup.symbols):
            target[rows, column[sym]] += w[:, i]
    gross = np.abs(target).sum(axis=1)
    over = gross > 1.0
    target[over] /= gross[over, None]  # never levered: more setups in trades than slots share
    field = "open" if config.fill == "open" else "close"
    fill = price_matrix(panel, dates, symbols, field)
    close = price_matrix(panel, dates, symbols, "close")
    target = np.where(np.isfinite(fill), target, 0.0)
    bt = simulate(dates, symbols, np.nan_to_num(fill), np.nan_to_num(close), target, config)
    return replace(
        bt,
        trade_returns=np.concatenate(trade_returns) if trade_returns else np.empty(0),
        trade_entries=np.concatenate(trade_entries) if trade_entries else np.empty(0, dtype=np.int64),
    )


def _trade_returns(weights: Array, fill: Array) -> Array:
    """Each run of non-zero weights is one trade: filled at its first bar, closed at the fill of
    the bar after its last (a trade still open at the end is left out)."""
    return _trades(weights, fill)[1]


def _trades(weights: Array, fill: Array) -> tuple[NDArray[np.int64], Array]:
    """``_trade_returns`` with the bar each trade entered on (an index into ``weights``)."""
    held = np.any(weights != 0.0, axis=1)
    edges = np.diff(held.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    entered: list[int] = []
    out: list[float] = []
    for s, e in zip(starts, ends, strict=True):
        if e >= len(fill):
            continue
        w = weights[s]
        entered.append(int(s))
        out.append(float(np.sum(w * (fill[e] / fill[s] - 1.0))))
    return np.asarray(entered, dtype=np.int64), np.asarray(out, dtype=np.float64)
