"""The backtester's cash account as compiled kernels: one set of trading rules, three loops.

The rules (``engine.research.backtest`` states them for users) live in two inline pieces, one
symbol at a time: ``_order`` (the trade toward a target weight at the fill price, sells in the
first pass, buys in the second, a held weight left to drift under the threshold) and
``_exit_share`` (the part of a holding that leaves within the bar at its own price). Every loop
below is built from them, so they cannot drift apart:

- ``run_book``: one account over N symbols (``simulate``);
- ``run_single``: one account over one symbol, its state in registers (``simulate`` of one symbol
  and each account of ``simulate_columns``): the same arithmetic as ``run_book`` with N = 1, bit
  for bit, at a third of its time (``run_book`` keeps its state in arrays);
- ``trade_bar``: one bar of ``run_book`` (``Account.step``, the RL environment's step);
- ``run_equity``: ``run_single``'s own loop with no exits and no ledger behind a kernel of nine
  arguments (``simulate`` of one symbol: numba types every argument on each call).

The loops fill only the equity curve unless ``detail`` is set; then they also write the ledger
(cash, shares, fills, exit fills, costs by bar). ``Backtest`` reruns with ``detail`` when its
ledger is first read: a run that needs its equity only (a sweep, a walk-forward, a permutation)
allocates and writes one array, not six. Both runs do the same arithmetic in the same order.

``error_model="numpy"``: every division here is guarded (a price, a value, a target checked
first), so none can raise; the numpy model saves the check numba would make before each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(fn: _F) -> _F:
    """Compiled, cached, GIL released (numba is untyped: the function keeps its type for mypy)."""
    return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


def _inline(fn: _F) -> _F:
    """A ``_kernel`` piece inlined into each kernel that calls it (numba IR, before LLVM)."""
    return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(fn))


NO_ROWS = np.zeros((0, 0))
"""A ``[0, 0]`` stand-in for arrays a kernel is told not to read or write."""
NO_PATH = np.zeros(0)


@_inline
def _order(
    phase: int,
    price: float,
    target: float,
    unchanged: bool,
    held: float,
    value: float,
    cash: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
) -> tuple[float, float]:
    """(shares, fee) traded in ``phase`` (0: sells, 1: buys) toward ``target`` (a weight of
    ``value``) at ``price``; (0, 0): none. ``unchanged``: the target is the last bar's and no exit
    intervened, so only drift past ``threshold`` is traded back. A buy is scaled to the cash."""
    if not price > 0.0:
        return 0.0, 0.0
    if unchanged:
        current_w = held * price / value if value > 0 and held != 0.0 else 0.0
        if abs(target - current_w) < threshold:
            return 0.0, 0.0  # only drift since the last decision, and not enough of it
    delta = target * value / price - held
    if phase == 0:
        if delta >= 0.0:
            return 0.0, 0.0
        qty = -delta
        return delta, qty * per_share + qty * price * (per_value + slippage)
    if delta <= 0.0:
        return 0.0, 0.0
    unit = price * (1.0 + slippage + per_value) + per_share  # never more than the cash pays for
    delta = min(delta, max(cash, 0.0) / unit)
    if delta <= 0.0:
        return 0.0, 0.0
    return delta, delta * per_share + delta * price * (per_value + slippage)


@_inline
def _pay(cash: float, delta: float, fee: float, price: float) -> float:
    """Cash after trading ``delta`` shares at ``price`` with ``fee``."""
    if delta > 0.0:
        return cash - (delta * price + fee)
    return cash + (-delta * price - fee)


@_inline
def _mark(cash: float, held: float, close: float) -> float:
    """Equity at the close: cash plus the holding at ``close``."""
    return cash + held * close if held != 0.0 else cash


@_inline
def _trade_one(
    price: float,
    target: float,
    unchanged: bool,
    held: float,
    cash: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
) -> tuple[float, float, float, float]:
    """One symbol's account in one bar, both passes of ``_order``: (held, cash, the last fill,
    the fees summed in order), as ``run_book`` trades it when it holds that one symbol. A held
    weight within the threshold skips both passes at once (the first pass would skip, so the
    second, seeing the same holding, would too): one division a bar, not two."""
    value = cash
    if held != 0.0:
        value += held * price
    if unchanged and price > 0.0:
        current_w = held * price / value if value > 0 and held != 0.0 else 0.0
        if abs(target - current_w) < threshold:
            return held, cash, 0.0, 0.0
    last = 0.0
    fees = 0.0
    for phase in range(2):
        delta, fee = _order(
            phase, price, target, unchanged, held, value, cash, per_share, per_value, slippage, threshold
        )
        if delta == 0.0:
            continue
        cash = _pay(cash, delta, fee, price)
        held += delta
        last = delta
        fees += fee
    return held, cash, last, fees


@_inline
def _exit_share(
    held: float, exit_weight: float, exit_price: float, target: float, per_share: float, rate: float
) -> tuple[bool, float, float]:
    """(exited, shares sold, fee) of the share of ``held`` that ``exit_weight`` (of ``target``)
    takes out within the bar at ``exit_price``; ``rate``: per value plus slippage."""
    if exit_weight == 0.0 or held == 0.0 or not exit_price > 0.0:
        return False, 0.0, 0.0
    share = 1.0 if target == 0.0 else min(abs(exit_weight / target), 1.0)
    qty = held * share
    return True, qty, abs(qty) * per_share + abs(qty) * exit_price * rate


@_inline
def _equity_only(
    fill: Array,
    close: Array,
    target: Array,
    col: int,
    account: int,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
) -> None:
    """``run_single`` with no exits and no ledger: its loop without their branches."""
    cash = start_equity
    held = 0.0
    for t in range(close.shape[0]):
        w = target[t, account]
        unchanged = t > 0 and w == target[t - 1, account]
        held, cash, _, _ = _trade_one(
            fill[t, col], w, unchanged, held, cash, per_share, per_value, slippage, threshold
        )
        equity[t, account] = _mark(cash, held, close[t, col])


@_kernel
def run_book(  # noqa: C901 - one fused loop: a call per symbol and bar costs more than its work
    fill: Array,
    close: Array,
    target: Array,
    exit_weights: Array,
    exit_prices: Array,
    has_exits: bool,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
    detail: bool,
    shares: Array,
    traded: Array,
    exit_traded: Array,
    costs: Array,
    cash_path: Array,
) -> None:
    """One account over N symbols, bar by bar, into ``equity`` (``[T]``) and, with ``detail``,
    the ledger (``traded``, ``exit_traded`` and ``costs`` zero to start with). ``has_exits``
    False: no exit within a bar anywhere (``exit_weights``/``exit_prices`` are not read)."""
    n_bars, n = close.shape
    cash = start_equity
    held = np.zeros(n)
    exited = np.zeros(n, dtype=np.bool_)
    flagged = False  # some of ``exited`` may be set (the bar before had an exit)
    rate = per_value + slippage
    for t in range(n_bars):
        value = cash
        for i in range(n):
            if held[i] != 0.0:
                value += held[i] * fill[t, i]
        for phase in range(2):  # sells first, so their cash pays for the buys
            for i in range(n):
                unchanged = t > 0 and target[t, i] == target[t - 1, i] and not exited[i]
                price = fill[t, i]
                delta, fee = _order(
                    phase,
                    price,
                    target[t, i],
                    unchanged,
                    held[i],
                    value,
                    cash,
                    per_share,
                    per_value,
                    slippage,
                    threshold,
                )
                if delta == 0.0:
                    continue
                cash = _pay(cash, delta, fee, price)
                held[i] += delta
                if detail:
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
            proceeds = 0.0
            fees = 0.0
            for i in range(n):
                hit, qty, fee = _exit_share(
                    held[i], exit_weights[t, i], exit_prices[t, i], target[t, i], per_share, rate
                )
                exited[i] = hit
                if hit:
                    proceeds += qty * exit_prices[t, i]
                    held[i] -= qty
                    fees += fee
                    if detail:
                        exit_traded[t, i] = -qty
            cash += proceeds - fees
            if detail:
                costs[t] += fees
        mark = cash
        for i in range(n):
            if detail:
                shares[t, i] = held[i]
            if held[i] != 0.0:
                mark += held[i] * close[t, i]
        equity[t] = mark
        if detail:
            cash_path[t] = cash


@_kernel
def run_single(
    fill: Array,
    close: Array,
    target: Array,
    col: int,
    account: int,
    exit_weights: Array,
    exit_prices: Array,
    has_exits: bool,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
    detail: bool,
    shares: Array,
    traded: Array,
    exit_traded: Array,
    costs: Array,
    cash_path: Array,
) -> None:
    """``run_book`` for one symbol: the account trading ``target[:, account]`` at ``fill[:, col]``
    (exits: ``exit_weights``/``exit_prices[:, col]``), marked at ``close[:, col]``, into
    ``equity[:, account]``; its ledger (column 0 of ``shares``, ``traded``, ``exit_traded``) with
    ``detail``. Each step is ``run_book``'s with N = 1, in the same order (so the same bits)."""
    n_bars = close.shape[0]
    if not (detail or has_exits):  # the loop below without its branches: a third faster
        _equity_only(
            fill, close, target, col, account, start_equity, per_share, per_value, slippage, threshold, equity
        )
        return
    cash = start_equity
    held = 0.0
    exited = False
    rate = per_value + slippage
    for t in range(n_bars):
        price = fill[t, col]
        w = target[t, account]
        unchanged = t > 0 and w == target[t - 1, account] and not exited
        held, cash, last, fees = _trade_one(
            price, w, unchanged, held, cash, per_share, per_value, slippage, threshold
        )
        if detail:
            traded[t, 0] = last
            costs[t] += fees
        was_exited = exited
        exited = False
        if has_exits and (exit_weights[t, col] != 0.0 or was_exited):
            px = exit_prices[t, col]
            exited, qty, fee = _exit_share(held, exit_weights[t, col], px, w, per_share, rate)
            proceeds = 0.0
            exit_fees = 0.0
            if exited:
                proceeds += qty * px
                held -= qty
                exit_fees += fee
                if detail:
                    exit_traded[t, 0] = -qty
            cash += proceeds - exit_fees
            if detail:
                costs[t] += exit_fees
        equity[t, account] = _mark(cash, held, close[t, col])
        if detail:
            shares[t, 0] = held
            cash_path[t] = cash


@_kernel
def run_equity(
    fill: Array,
    close: Array,
    target: Array,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
) -> None:
    """``run_single`` of column 0 with no exits and no ledger (``simulate``'s usual one-symbol
    run), through the same ``_equity_only`` loop: nine arguments, not twenty, for numba's
    dispatcher to type on each call (measured here: ~2 us less a call, a tenth of a 2,520-bar
    run's whole time)."""
    _equity_only(fill, close, target, 0, 0, start_equity, per_share, per_value, slippage, threshold, equity)


@_kernel
def run_columns(
    fill: Array,
    close: Array,
    target: Array,
    start_equity: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
    equity: Array,
) -> None:
    """``simulate_columns`` in one call: account ``k`` trades ``target[:, k]`` at column
    ``k % N`` as ``run_single`` would (the same ``_trade_one`` steps, bit for bit), every account
    a bar at a time: the ``[T, K]`` arrays are read and written in their memory order (one
    account at a time down a column strides through all of them, a cache miss a bar)."""
    n_bars, k_all = target.shape
    n_px = fill.shape[1]
    cash = np.full(k_all, start_equity)
    held = np.zeros(k_all)
    for t in range(n_bars):
        c = 0
        for k in range(k_all):
            w = target[t, k]
            h, cs, _, _ = _trade_one(
                fill[t, c],
                w,
                t > 0 and w == target[t - 1, k],
                held[k],
                cash[k],
                per_share,
                per_value,
                slippage,
                threshold,
            )
            held[k] = h
            cash[k] = cs
            equity[t, k] = _mark(cs, h, close[t, c])
            c += 1
            if c == n_px:
                c = 0


@_kernel
def trade_bar(
    fill: Array,
    close: Array,
    target: Array,
    previous: Array,
    first: bool,
    held: Array,
    traded: Array,
    cash: float,
    per_share: float,
    per_value: float,
    slippage: float,
    threshold: float,
) -> tuple[float, float, float]:
    """One bar of ``run_book`` (no exits within it: an agent's exits are its targets): trade toward
    ``target`` at ``fill``, mark at ``close``. Returns (cash, costs, equity); ``held`` and
    ``traded`` are updated in place. ``Account.step`` calls it, so an agent pays exactly the
    costs and gets exactly the fills a backtest of the same targets does."""
    n = len(close)
    cost = 0.0
    value = cash
    for i in range(n):
        if held[i] != 0.0:
            value += held[i] * fill[i]
    for phase in range(2):
        for i in range(n):
            unchanged = not first and target[i] == previous[i]
            price = fill[i]
            delta, fee = _order(
                phase,
                price,
                target[i],
                unchanged,
                held[i],
                value,
                cash,
                per_share,
                per_value,
                slippage,
                threshold,
            )
            if delta == 0.0:
                continue
            cash = _pay(cash, delta, fee, price)
            held[i] += delta
            traded[i] = delta
            cost += fee
    mark = cash
    for i in range(n):
        if held[i] != 0.0:
            mark += held[i] * close[i]
    return cash, cost, mark
