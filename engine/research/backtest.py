"""The vectorized backtester: any template's setups, run as a cash account over their bars.

Two steps, one rule each:

1. ``setup_trades``: one setup's trades and target weights bar by bar, from the same ``Setup``
   arrays the card generator reads (so research has no strategy logic of its own). A signal at
   the close of bar t is acted on at bar t+1 (positions lag signals by one bar, by
   construction); the trade ends where ``engine.strategies.exits.setup_exits`` says, the one
   exit model the card track record uses too: the template's exit policy (a stop, a target or
   a trailing stop resting from the fill and filled within the bar they are touched on, a gap
   through them at the open; the time exit at the horizon), or the exit rule at a close, filled
   at the next bar. A setup is in one trade at a time: a signal is taken when the setup is flat
   by its close.
2. ``simulate``: a cash account that trades toward target weights at each bar's fill price (the
   open by default, or the close), paying commission per share and per value and slippage in
   bps on what it trades, letting a held weight drift until it is a threshold away, never
   borrowing (buys are scaled to the cash there is), fractional shares allowed. Exits that
   fill within a bar (``exit_weights``/``exit_prices``) are sold at their own price after the
   bar's fill-price trades, with the same costs. Equity is marked at each close.

``BacktestConfig.exits=False`` runs the templates with no protective exits (no stop, no target,
no trailing stop: only the exit rule and the time exit); ``simulate`` given no exit prices is the
plain target-weight account the outside references (vectorbt, backtesting.py) are compared with.

The options template is backtested on its stock leg only: option fills need option prices,
which daily bars do not have (the card generator's track record models the option instead).

A template over a universe gives each setup a slot of ``1 / slots`` of equity, so the book is
never levered: with more setups in trades than slots, the weights are scaled down together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy
from engine.strategies.exits import Exits, setup_exits
from engine.strategies.templates.base import NO_PROTECTION, Array, Panel, Params, Setup, Template


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
    exits: bool = True
    """Trade the templates' exit policies (stops, targets, trailing stops); False: none of
    them, only the exit rule and the time exit (to measure what the protection costs or saves)."""


DEFAULT_CONFIG = BacktestConfig()
_NO_EXITS = np.zeros((0, 0))


@dataclass(frozen=True, slots=True)
class SetupTrades:
    """One setup's trades as the account takes them (one at a time), and its weights ``[T, k]``."""

    weights: Array
    """Target weights that hold at bar t (decided at the close of t-1, traded at t's fill)."""
    exit_weights: Array
    """The part of ``weights[t]`` that leaves within bar t (a stop, a target, a close exit)."""
    exit_prices: Array
    """The price each leg of such an exit fills at (NaN elsewhere)."""
    signals: NDArray[np.int64]
    """Signal bar of each trade taken."""
    exits: Exits
    """``setup_exits`` of those trades."""

    @property
    def returns(self) -> Array:
        """Each completed trade's return from its entry fill to its exit fill, before costs."""
        out: Array = self.exits.ret[self.exits.done]
        return out


def setup_trades(
    setup: Setup, horizon: int, policy: ExitPolicy, fill: str = "open", exits: bool = True
) -> SetupTrades:
    """The setup's trades over its own bars (see the module docstring for the rules)."""
    n_bars, k = setup.close.shape
    signals = np.flatnonzero(setup.entry[:-1]).astype(np.int64)
    every = setup_exits(setup, signals, horizon, policy, fill=fill, protect=exits)
    weights = np.zeros((n_bars, k))
    exit_w = np.zeros((n_bars, k))
    exit_px = np.full((n_bars, k), np.nan)
    taken: list[int] = []
    i = 0
    while i < len(signals):
        taken.append(i)
        s, e = int(signals[i]), int(every.bar[i])
        w = setup.weights[s]
        if e < 0:  # open at the end of the data
            weights[s + 1 :] = w
            break
        if every.intrabar[i]:
            weights[s + 1 : e + 1] = w
            exit_w[e] = w
            exit_px[e] = every.price[i] if k == 1 else setup.close[e]
            flat_from = e  # a signal at this bar's close is taken
        else:
            weights[s + 1 : e] = w
            flat_from = e - 1
        i = int(np.searchsorted(signals, flat_from, side="left"))
        if i < len(signals) and signals[i] <= s:
            i = int(np.searchsorted(signals, s, side="right"))
    chosen = np.asarray(taken, dtype=np.int64)
    picked = Exits(
        every.bar[chosen],
        every.ret[chosen],
        every.price[chosen],
        every.reason[chosen],
        every.intrabar[chosen],
    )
    return SetupTrades(weights, exit_w, exit_px, signals[chosen], picked)


def setup_weights(setup: Setup, horizon: int, fill: str = "open", policy: ExitPolicy | None = None) -> Array:
    """The setup's target weights over its own bars (``setup_trades``; no exit policy: none)."""
    return setup_trades(setup, horizon, policy or NO_PROTECTION, fill).weights


@numba.njit(cache=True, nogil=True)
def _exit_within_bar(
    held: Array,
    exited: NDArray[np.bool_],
    exit_weights: Array,
    exit_prices: Array,
    target: Array,
    exit_traded: Array,
    t: int,
    per_share: float,
    per_value: float,
) -> tuple[float, float]:
    """Sell (buy back) the share of each holding that exits within bar ``t``, at its own price:
    (proceeds, fees). ``exited`` marks those symbols, whose next bar then trades to its target.

    Takes the whole arrays and the bar, not the bar's rows, and runs only when some exit does:
    four row views per bar passed to a call cost more than the rest of the bar (a 100,000-bar
    run spent 80% of its time here)."""
    proceeds = 0.0
    fees = 0.0
    for i in range(len(held)):
        exited[i] = False
        px = exit_prices[t, i]
        if exit_weights[t, i] == 0.0 or held[i] == 0.0 or not px > 0.0:
            continue
        share = 1.0 if target[t, i] == 0.0 else min(abs(exit_weights[t, i] / target[t, i]), 1.0)
        qty = held[i] * share
        fee = abs(qty) * per_share + abs(qty) * px * per_value
        proceeds += qty * px
        held[i] -= qty
        exit_traded[t, i] = -qty
        fees += fee
        exited[i] = True
    return proceeds, fees


@numba.njit(cache=True, nogil=True)
def _exit_within_row(
    held: Array,
    exited: NDArray[np.bool_],
    exit_weights: Array,
    exit_prices: Array,
    target: Array,
    exit_traded: Array,
    per_share: float,
    per_value: float,
) -> tuple[float, float]:
    """One bar's rows of ``_exit_within_bar`` (the RL environment's ``Account.step``, via
    ``_trade_bar``). Sell (buy back) the share of each holding that exits within the bar, at its own price:
    (proceeds, fees). ``exited`` marks those symbols, whose next bar then trades to its target."""
    proceeds = 0.0
    fees = 0.0
    for i in range(len(held)):
        exited[i] = False
        px = exit_prices[i]
        if exit_weights[i] == 0.0 or held[i] == 0.0 or not px > 0.0:
            continue
        share = 1.0 if target[i] == 0.0 else min(abs(exit_weights[i] / target[i]), 1.0)
        qty = held[i] * share
        fee = abs(qty) * per_share + abs(qty) * px * per_value
        proceeds += qty * px
        held[i] -= qty
        exit_traded[i] = -qty
        fees += fee
        exited[i] = True
    return proceeds, fees


@numba.njit(cache=True, nogil=True, inline="always")
def _trade_bar(
    fill: Array,
    close: Array,
    target: Array,
    previous: Array,
    first: bool,
    exit_weights: Array,
    exit_prices: Array,
    held: Array,
    exited: NDArray[np.bool_],
    traded: Array,
    exit_traded: Array,
    cash: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
) -> tuple[float, float, float]:
    """One bar of the account: trade toward ``target`` at ``fill``, exits within the bar, mark at
    ``close``. Returns (cash, costs, equity); ``held``, ``exited``, ``traded`` and ``exit_traded``
    are updated in place. The backtester's loop and the RL environment's step both call this
    one function, so an agent pays exactly the costs and gets exactly the fills a backtest does.
    ``_simulate`` runs the same rules in its own fused loop (a call per bar cost it 14 %)."""
    n = len(close)
    cost = 0.0
    value = cash
    for i in range(n):
        if held[i] != 0.0:
            value += held[i] * fill[i]
    # sells first, so their cash pays for the buys
    for phase in range(2):
        for i in range(n):
            price = fill[i]
            if not price > 0.0:
                continue
            want = target[i] * value / price
            delta = want - held[i]
            current_w = held[i] * price / value if value > 0 else 0.0
            unchanged = not first and target[i] == previous[i] and not exited[i]
            if unchanged and abs(target[i] - current_w) < threshold:
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
            traded[i] = delta
            cost += fee
    proceeds, fees = _exit_within_row(
        held,
        exited,
        exit_weights,
        exit_prices,
        target,
        exit_traded,
        per_share,
        per_value + slippage,
    )
    cash += proceeds - fees
    cost += fees
    mark = cash
    for i in range(n):
        if held[i] != 0.0:
            mark += held[i] * close[i]
    return cash, cost, mark


@numba.njit(cache=True, nogil=True)
def _simulate(  # noqa: C901 - one fused loop: a call per symbol and bar costs more than its work
    fill: Array,
    close: Array,
    target: Array,
    exit_weights: Array,
    exit_prices: Array,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    has_exits: bool,
    out: tuple[Array, Array, Array, Array, Array, Array],
) -> None:
    """The account bar by bar (``simulate``), into ``out``: equity, shares, traded, exit_traded,
    costs, cash (``traded``, ``exit_traded`` and ``costs`` zero to start with). ``has_exits``
    False: no exit within a bar anywhere (``exit_weights`` and ``exit_prices`` are not read).

    The results are allocated by the caller with numpy: its zeros are pages the system hands
    out already zeroed, where numba's would be written over once more before any bar (half of
    a 100,000-bar run's time)."""
    n_bars, n = close.shape
    equity, shares, traded, exit_traded, costs, cash_path = out
    cash = start_equity
    held = np.zeros(n)
    exited = np.zeros(n, dtype=np.bool_)
    flagged = False  # some of ``exited`` may be set (the bar before had an exit)
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
                if t > 0 and target[t, i] == target[t - 1, i] and not exited[i]:
                    current_w = held[i] * price / value if value > 0 else 0.0
                    if abs(target[t, i] - current_w) < threshold:
                        continue  # only drift since the last decision, and not enough of it
                delta = target[t, i] * value / price - held[i]
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
        due = False  # an exit within this bar, or flags of the last one to clear
        if has_exits:
            for i in range(n):
                if exit_weights[t, i] != 0.0:
                    due = True
                    break
        if due or flagged:
            flagged = due
            proceeds, fees = _exit_within_bar(
                held,
                exited,
                exit_weights,
                exit_prices,
                target,
                exit_traded,
                t,
                per_share,
                per_value + slippage,
            )
            cash += proceeds - fees
            costs[t] += fees
        mark = cash
        for i in range(n):
            shares[t, i] = held[i]
            if held[i] != 0.0:
                mark += held[i] * close[t, i]
        equity[t] = mark
        cash_path[t] = cash


@numba.njit(cache=True, nogil=True)
def _simulate_columns(
    fill: Array,
    close: Array,
    target: Array,
    no_exits: Array,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
) -> None:
    """``simulate_columns`` in one call: each column's account through the same kernel."""
    n_bars, k_all = target.shape
    n_px = fill.shape[1]
    eq, cash = np.empty(n_bars), np.empty(n_bars)
    shares, traded, exit_traded = np.empty((n_bars, 1)), np.zeros((n_bars, 1)), np.zeros((n_bars, 1))
    costs = np.zeros(n_bars)
    for k in range(k_all):
        c = k % n_px
        traded[:] = 0.0
        costs[:] = 0.0
        out = (eq, shares, traded, exit_traded, costs, cash)
        _simulate(
            fill[:, c : c + 1],
            close[:, c : c + 1],
            target[:, k : k + 1],
            no_exits,
            no_exits,
            start_equity,
            per_share,
            per_value,
            slippage,
            threshold,
            False,
            out,
        )
        equity[:, k] = eq


def simulate_columns(
    fill: Array, close: Array, target: Array, config: BacktestConfig = DEFAULT_CONFIG
) -> Array:
    """Equity ``[T, K]`` of ``K`` independent single-symbol accounts: account ``k`` trades
    ``target[:, k]`` (a weight of its own equity) at ``fill[:, k % N]`` and marks at
    ``close[:, k % N]`` (``N`` price columns: one symbol swept over K parameter sets, or K
    symbols), each exactly as ``simulate`` runs it alone (no exits within a bar).

    What a parameter sweep or a universe of one-symbol runs needs (vectorbt's columns), in one
    call: one ``simulate`` per account costs more in calls than the accounts cost to run."""
    fill = np.ascontiguousarray(fill, dtype=np.float64)
    close = np.ascontiguousarray(close, dtype=np.float64)
    target = np.ascontiguousarray(target, dtype=np.float64)
    if fill.ndim != 2 or fill.shape != close.shape or target.ndim != 2 or len(target) != len(fill):
        raise ValueError(
            f"simulate_columns: fill {fill.shape}, close {close.shape} and target {target.shape} must be "
            "[T, N], [T, N] and [T, K] over the same bars"
        )
    if target.shape[1] % fill.shape[1] != 0:
        raise ValueError(
            f"simulate_columns: {target.shape[1]} accounts do not divide among {fill.shape[1]} price columns"
        )
    c = config.costs
    equity = np.empty(target.shape)
    _simulate_columns(
        fill,
        close,
        target,
        _NO_EXITS,
        float(config.start_equity),
        float(c.per_share),
        float(c.per_value),
        float(c.slippage_bps) * 1e-4,
        float(config.rebalance_threshold),
        equity,
    )
    return equity


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
    exit_traded: Array = field(default_factory=lambda: np.empty((0, 0)))
    """Quantities sold (bought back) within a bar by an exit at its own price (``exit_prices``)."""
    exit_prices: Array = field(default_factory=lambda: np.empty((0, 0)))
    exit_reasons: dict[str, int] = field(default_factory=dict)
    """How the setup trades ended (run_template): stop, target, trail, time, rule, end-of-data."""

    @property
    def returns(self) -> Array:
        out = np.zeros(len(self.equity))
        out[1:] = self.equity[1:] / self.equity[:-1] - 1.0
        return out

    def trades(self, fill_prices: Array) -> pd.DataFrame:
        """Every fill: date, symbol, quantity (signed) and price (exits within a bar at theirs)."""
        t_idx, s_idx = np.nonzero(self.traded)
        frame = pd.DataFrame(
            {
                "date": pd.to_datetime(self.dates[t_idx]),
                "symbol": [self.symbols[i] for i in s_idx],
                "quantity": self.traded[t_idx, s_idx],
                "price": fill_prices[t_idx, s_idx],
            }
        )
        if self.exit_traded.size == 0 or not self.exit_traded.any():
            return frame
        t_x, s_x = np.nonzero(self.exit_traded)
        exits = pd.DataFrame(
            {
                "date": pd.to_datetime(self.dates[t_x]),
                "symbol": [self.symbols[i] for i in s_x],
                "quantity": self.exit_traded[t_x, s_x],
                "price": self.exit_prices[t_x, s_x],
            }
        )
        return pd.concat([frame, exits], ignore_index=True).sort_values("date", kind="stable")

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
    exit_weights: Array | None = None,
    exit_prices: Array | None = None,
) -> Backtest:
    """Trade toward ``target`` weights (``[T, N]``; a bar's weights are traded at its fill price).

    ``exit_weights[t]`` is the part of ``target[t]`` that leaves within bar t at
    ``exit_prices[t]`` (after the fill-price trades); none given: a plain target-weight account.
    """
    c = config.costs
    shape = np.shape(target)
    has_exits = False
    xw = xp = _NO_EXITS  # none to read: the kernel skips them (two [T, N] arrays of zeros not built)
    if exit_weights is not None and exit_prices is not None and bool(np.any(exit_weights)):
        has_exits = True
        xw = np.ascontiguousarray(exit_weights, dtype=np.float64)
        xp = np.ascontiguousarray(np.nan_to_num(exit_prices), dtype=np.float64)
    n_bars = shape[0]
    equity, shares, cash = np.empty(n_bars), np.empty(shape), np.empty(n_bars)
    traded, exit_traded, costs = np.zeros(shape), np.zeros(shape), np.zeros(n_bars)
    _simulate(
        np.ascontiguousarray(fill, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(target, dtype=np.float64),
        xw,
        xp,
        float(config.start_equity),
        float(c.per_share),
        float(c.per_value),
        float(c.slippage_bps) * 1e-4,
        float(config.rebalance_threshold),
        has_exits,
        (equity, shares, traded, exit_traded, costs, cash),
    )
    if not has_exits:
        xp = np.zeros(shape) if exit_prices is None else np.nan_to_num(exit_prices)
    return Backtest(
        dates,
        tuple(symbols),
        equity,
        cash,
        shares,
        traded,
        costs,
        target,
        exit_traded=exit_traded,
        exit_prices=xp,
    )


class Account:
    """The backtester's cash account stepped one bar at a time (for an agent deciding bar by bar).

    Each ``step`` is one iteration of ``simulate``'s loop through the same compiled kernel, so a
    sequence of targets stepped here gives the equity, costs and fills ``simulate`` gives for
    the same ``[T, N]`` targets (no exits within a bar: an agent's exits are its targets).
    """

    __slots__ = (
        "_costs",
        "_exit_px",
        "_exit_traded",
        "_exit_w",
        "_exited",
        "_previous",
        "_threshold",
        "cash",
        "costs",
        "equity",
        "held",
        "start_equity",
        "steps",
        "traded",
    )

    def __init__(self, n_symbols: int, config: BacktestConfig = DEFAULT_CONFIG) -> None:
        c = config.costs
        self._costs = (float(c.per_share), float(c.per_value), float(c.slippage_bps) * 1e-4)
        self._threshold = float(config.rebalance_threshold)
        self.start_equity = float(config.start_equity)
        self._exit_w = np.zeros(n_symbols)
        self._exit_px = np.zeros(n_symbols)
        self._exit_traded = np.zeros(n_symbols)
        self.held = np.zeros(n_symbols)
        self._exited = np.zeros(n_symbols, dtype=np.bool_)
        self._previous = np.zeros(n_symbols)
        self.traded = np.zeros(n_symbols)
        self.cash = self.start_equity
        self.equity = self.start_equity
        self.costs = 0.0
        self.steps = 0

    def reset(self) -> None:
        self.held[:] = 0.0
        self._exited[:] = False
        self._previous[:] = 0.0
        self.cash = self.equity = self.start_equity
        self.costs = 0.0
        self.steps = 0

    def step(self, fill: Array, close: Array, target: Array) -> tuple[float, float]:
        """Trade toward ``target`` at ``fill``, mark at ``close``: (equity, costs of this bar)."""
        self.traded[:] = 0.0
        per_share, per_value, slippage = self._costs
        target = np.ascontiguousarray(target, dtype=np.float64)
        self.cash, cost, self.equity = _trade_bar(
            np.ascontiguousarray(fill, dtype=np.float64),
            np.ascontiguousarray(close, dtype=np.float64),
            target,
            self._previous,
            self.steps == 0,
            self._exit_w,
            self._exit_px,
            self.held,
            self._exited,
            self.traded,
            self._exit_traded,
            self.cash,
            per_share,
            per_value,
            slippage,
            self._threshold,
        )
        self._previous = target.copy()
        self.steps += 1
        self.costs += cost
        return self.equity, cost


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
    """The template's setups on ``panel`` as one cash account (each setup a ``1/slots`` slot).

    Two setups closing the same symbol within the same bar at different prices (the options
    template's put and call overlays) both sell at the later one's price: a rare approximation.
    """
    p = params or template.params()
    dates, symbols = sessions_and_symbols(panel)
    column = {s: j for j, s in enumerate(symbols)}
    target = np.zeros((len(dates), len(symbols)))
    exit_w = np.zeros_like(target)
    exit_px = np.full_like(target, np.nan)
    eligible = {s: b for s, b in panel.items() if len(b) >= template.min_history}
    trade_returns: list[Array] = []
    trade_entries: list[NDArray[np.int64]] = []
    reasons: Counter[str] = Counter()
    for setup in template.build(eligible, p) if eligible else []:
        trades = setup_trades(setup, template.horizon_days, template.exit_policy, config.fill, config.exits)
        trade_returns.append(trades.returns)
        reasons.update(trades.exits.reasons())
        rows = np.searchsorted(dates, setup.dates)
        done = trades.signals[trades.exits.done] + 1  # the entry fills the bar after its signal
        trade_entries.append(rows[done].astype(np.int64))
        for i, sym in enumerate(setup.symbols):
            j = column[sym]
            target[rows, j] += trades.weights[:, i] / config.slots
            exit_w[rows, j] += trades.exit_weights[:, i] / config.slots
            px = trades.exit_prices[:, i]
            hit = np.isfinite(px)
            exit_px[rows[hit], j] = px[hit]
    gross = np.abs(target).sum(axis=1)
    over = gross > 1.0
    target[over] /= gross[over, None]  # never levered: more setups in trades than slots share
    exit_w[over] /= gross[over, None]
    field = "open" if config.fill == "open" else "close"
    fill = price_matrix(panel, dates, symbols, field)
    close = price_matrix(panel, dates, symbols, "close")
    target = np.where(np.isfinite(fill), target, 0.0)
    bt = simulate(dates, symbols, np.nan_to_num(fill), np.nan_to_num(close), target, config, exit_w, exit_px)
    return replace(
        bt,
        trade_returns=np.concatenate(trade_returns) if trade_returns else np.empty(0),
        trade_entries=np.concatenate(trade_entries) if trade_entries else np.empty(0, dtype=np.int64),
        exit_reasons=dict(reasons),
    )
