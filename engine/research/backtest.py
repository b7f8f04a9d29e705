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

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy
from engine.research.account import NO_PATH, NO_ROWS, run_book, run_columns, run_equity, run_single, trade_bar
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


def _kernel_terms(config: BacktestConfig) -> tuple[float, float, float, float, float]:
    """(start equity, per share, per value, slippage as a fraction, threshold): the kernels' floats."""
    c = config.costs
    return (
        float(config.start_equity),
        float(c.per_share),
        float(c.per_value),
        float(c.slippage_bps) * 1e-4,
        float(config.rebalance_threshold),
    )


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
    if fill.shape[1] == 0 or target.shape[1] % fill.shape[1] != 0:
        raise ValueError(
            f"simulate_columns: {target.shape[1]} accounts do not divide among {fill.shape[1]} price columns"
        )
    equity = np.empty(target.shape)
    run_columns(fill, close, target, *_kernel_terms(config), equity)
    return equity


@dataclass(frozen=True, slots=True)
class Ledger:
    """The account bar by bar beyond its equity: cash and costs ``[T]``; shares held at the
    close, fills at the fill price and exit fills within the bar ``[T, N]``; exit prices."""

    cash: Array
    shares: Array
    traded: Array
    exit_traded: Array
    """Quantities sold (bought back) within a bar by an exit at its own price (``exit_prices``)."""
    costs: Array
    exit_prices: Array


class _Replay:
    """What ``simulate`` ran, to run it once more with the ledger written (``Backtest.ledger``).

    The arrays are held, not copied: a caller that changes them after ``simulate`` changes
    what a later first read of the ledger sees (``simulate`` copies what it had to convert).
    A plain slotted class, not a frozen dataclass: built on every ``simulate`` call, where a
    one-symbol backtest of ten years costs about as much as its Python around the kernel."""

    __slots__ = (
        "cache",
        "close",
        "config",
        "exit_prices",
        "exit_weights",
        "fill",
        "given_exit_prices",
        "has_exits",
    )

    def __init__(
        self,
        fill: Array,
        close: Array,
        exit_weights: Array,
        exit_prices: Array,
        given_exit_prices: Array | None,
        has_exits: bool,
        config: BacktestConfig,
    ) -> None:
        self.fill = fill
        self.close = close
        self.exit_weights = exit_weights
        self.exit_prices = exit_prices  # what the kernel reads (NaN as 0), NO_ROWS without exits
        self.given_exit_prices = given_exit_prices
        self.has_exits = has_exits
        self.config = config
        self.cache: list[Ledger] = []


def _run_ledger(replay: _Replay, target: Array) -> Ledger:
    """The run ``simulate`` made, again, with ``detail``: the same arithmetic in the same order."""
    shape = target.shape
    n_bars = shape[0]
    shares, cash = np.empty(shape), np.empty(n_bars)
    traded, exit_traded, costs = np.zeros(shape), np.zeros(shape), np.zeros(n_bars)
    terms = _kernel_terms(replay.config)
    r = replay
    if shape[1] == 1:
        run_single(
            r.fill, r.close, target, 0, 0, r.exit_weights, r.exit_prices, r.has_exits, *terms,
            np.empty(shape), True, shares, traded, exit_traded, costs, cash,
        )  # fmt: skip
    else:
        run_book(
            r.fill, r.close, target, r.exit_weights, r.exit_prices, r.has_exits, *terms,
            np.empty(n_bars), True, shares, traded, exit_traded, costs, cash,
        )  # fmt: skip
    if r.has_exits:
        exit_prices = r.exit_prices
    else:
        given = r.given_exit_prices
        exit_prices = np.zeros(shape) if given is None else np.nan_to_num(given)
    return Ledger(cash, shares, traded, exit_traded, costs, exit_prices)


@dataclass(slots=True)
class Backtest:
    """What a run produced, bar by bar, with the symbols as columns (not to be assigned to).

    Not a frozen dataclass: a frozen one sets each field through ``object.__setattr__``, which
    cost ~6 us for these eight on the CPython 3.11 here, about what the kernel takes for a
    2,000-bar one-symbol run (a sweep builds one per run); a plain slotted ``__init__`` ~1 us.

    The equity curve is computed by the run; the rest of the account (``ledger``: cash, shares,
    fills, costs) on first use, by the same kernel run once more writing it (a sweep or a
    walk-forward reads the equity only, and skips allocating and writing five more arrays)."""

    dates: NDArray[np.datetime64]
    symbols: tuple[str, ...]
    equity: Array
    weights: Array
    """The target weights the account traded toward."""
    replay: _Replay = field(repr=False)
    trade_returns: Array = field(default_factory=lambda: np.empty(0))
    """Each setup trade's return from its entry fill to its exit fill, before costs (run_template)."""
    trade_entries: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The bar (row of ``dates``) each of ``trade_returns`` entered on: a walk-forward counts the
    trades that entered in its out-of-sample windows by it."""
    exit_reasons: dict[str, int] = field(default_factory=dict)
    """How the setup trades ended (run_template): stop, target, trail, time, rule, end-of-data."""

    @property
    def ledger(self) -> Ledger:
        cache = self.replay.cache
        if not cache:
            cache.append(_run_ledger(self.replay, self.weights))
        return cache[0]

    @property
    def cash(self) -> Array:
        return self.ledger.cash

    @property
    def shares(self) -> Array:
        return self.ledger.shares

    @property
    def traded(self) -> Array:
        return self.ledger.traded

    @property
    def costs(self) -> Array:
        return self.ledger.costs

    @property
    def exit_traded(self) -> Array:
        return self.ledger.exit_traded

    @property
    def exit_prices(self) -> Array:
        return self.ledger.exit_prices

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
    Arrays already float64 and C-contiguous are used as they are (not copied); the result's
    ledger reads them again on first use.
    """
    symbols = tuple(symbols)
    fill = np.ascontiguousarray(fill, dtype=np.float64)
    close = np.ascontiguousarray(close, dtype=np.float64)
    target = np.ascontiguousarray(target, dtype=np.float64)
    shape = target.shape
    if len(shape) != 2 or fill.shape != shape or close.shape != shape or shape != (len(dates), len(symbols)):
        raise ValueError(
            f"simulate: fill {fill.shape}, close {close.shape} and target {shape} must each be "
            f"[T, N] = [{len(dates)} dates, {len(symbols)} symbols]"
        )
    has_exits = False
    xw = xp = NO_ROWS  # none to read: the kernel skips them (two [T, N] arrays of zeros not built)
    if exit_weights is not None and exit_prices is not None and bool(np.any(exit_weights)):
        has_exits = True
        xw = np.ascontiguousarray(exit_weights, dtype=np.float64)
        xp = np.ascontiguousarray(np.nan_to_num(exit_prices), dtype=np.float64)
    terms = _kernel_terms(config)
    if shape[1] == 1:
        column = np.empty(shape)
        if has_exits:
            run_single(
                fill, close, target, 0, 0, xw, xp, has_exits, *terms,
                column, False, NO_ROWS, NO_ROWS, NO_ROWS, NO_PATH, NO_PATH,
            )  # fmt: skip
        else:  # run_single's own path for this case, through a kernel with fewer arguments
            run_equity(fill, close, target, *terms, column)
        equity = column.reshape(shape[0])
    else:
        equity = np.empty(shape[0])
        run_book(
            fill, close, target, xw, xp, has_exits, *terms,
            equity, False, NO_ROWS, NO_ROWS, NO_ROWS, NO_PATH, NO_PATH,
        )  # fmt: skip
    replay = _Replay(fill, close, xw, xp, exit_prices, has_exits, config)
    return Backtest(dates, symbols, equity, target, replay, _NO_RETURNS, _NO_ENTRIES, {})


_NO_RETURNS: Array = np.empty(0)
"""The ``trade_returns`` of a plain ``simulate`` (shared: an array with no elements cannot be
changed, only replaced), so a call does not allocate two empty arrays for its result."""
_NO_ENTRIES: NDArray[np.int64] = np.empty(0, dtype=np.int64)


class Account:
    """The backtester's cash account stepped one bar at a time (for an agent deciding bar by bar).

    Each ``step`` is one iteration of ``simulate``'s loop through the same compiled rules
    (``engine.research.account``), so a sequence of targets stepped here gives the equity, costs
    and fills ``simulate`` gives for the same ``[T, N]`` targets (no exits within a bar: an
    agent's exits are its targets).
    """

    __slots__ = ("_previous", "_terms", "cash", "costs", "equity", "held", "start_equity", "steps", "traded")

    def __init__(self, n_symbols: int, config: BacktestConfig = DEFAULT_CONFIG) -> None:
        start, *terms = _kernel_terms(config)
        self._terms = tuple(terms)
        self.start_equity = start
        self.held = np.zeros(n_symbols)
        self._previous = np.zeros(n_symbols)
        self.traded = np.zeros(n_symbols)
        self.cash = self.start_equity
        self.equity = self.start_equity
        self.costs = 0.0
        self.steps = 0

    def reset(self) -> None:
        self.held[:] = 0.0
        self._previous[:] = 0.0
        self.cash = self.equity = self.start_equity
        self.costs = 0.0
        self.steps = 0

    def step(self, fill: Array, close: Array, target: Array) -> tuple[float, float]:
        """Trade toward ``target`` at ``fill``, mark at ``close``: (equity, costs of this bar)."""
        self.traded[:] = 0.0
        target = np.ascontiguousarray(target, dtype=np.float64)
        self.cash, cost, self.equity = trade_bar(
            np.ascontiguousarray(fill, dtype=np.float64),
            np.ascontiguousarray(close, dtype=np.float64),
            target,
            self._previous,
            self.steps == 0,
            self.held,
            self.traded,
            self.cash,
            *self._terms,
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
