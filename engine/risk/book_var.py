"""The live book's VaR by the configured model, and that model's backtest on the book's history.

Portfolio level, stated: today's holdings are replayed over each past day of their aligned
returns, giving one P&L series (shares: value x return; options: delta-gamma on the
underlying's return, ``delta S r + gamma (S r)^2 / 2`` with today's Greeks, so an option book's
convexity is in the tail but its vega is not; full revaluation is left for a later model). The
univariate model of ``var_models`` is then fitted to that series. The correlation estimate
this implies: for the EWMA models the book's EWMA variance is exactly w' Sigma w with Sigma the
RiskMetrics EWMA covariance (lambda 0.94) of the holdings, computed without forming Sigma; for
GARCH models the book's own GARCH volatility; in both the co-movement in the tail is the
holdings' own history, not a correlation matrix. The classic parametric and Monte Carlo figures
keep the sample covariance of ``var.py``.

The backtest is out of sample on the book's own recent days: each day's VaR forecast from the
days before it (GARCH/GPD refitted every 20 days), compared with what today's holdings would
have made that day.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from datetime import date

import numpy as np
from numpy.typing import NDArray

from engine.model.risk import VarBacktest, VarFigures
from engine.risk.greeks import OptionPosition, position_greeks
from engine.risk.var import LEVELS, MIN_OBSERVATIONS, align_book, zero_figures
from engine.risk.var_backtest import backtest
from engine.risk.var_models import (
    CLASSIC_METHODS,
    FILTERED_WINDOW,
    MIN_WINDOW,
    REFIT_EVERY,
    Fits,
    check_method,
    default_window,
    roll,
)

FloatArray = NDArray[np.float64]

BACKTEST_DAYS = 250
"""Days of the live backtest (a year, the Basel traffic light's length)."""
SHORTEST_FILTERED = 250
"""The shortest tail window a filtered model is given on a book with little history."""
RECENT_DAYS = 60
"""Days of loss/VaR shown on the screen's chart."""


def book_pnl(
    values: Mapping[str, float],
    returns: Mapping[str, NDArray[np.floating]],
    options: Sequence[OptionPosition] = (),
    *,
    days: int | None = None,
) -> FloatArray:
    """Daily P&L today's book would have made over the aligned past days (delta-gamma options).

    An option whose underlying has no return series is left out (as ``align_book`` leaves out
    such shares): it has no history to replay.
    """
    by_underlying: dict[str, tuple[float, float]] = {}
    for option in options:
        if option.underlying not in returns:
            continue
        g = position_greeks(option)
        units = option.quantity * option.multiplier
        spot = option.underlying_price
        d, gm = by_underlying.get(option.underlying, (0.0, 0.0))
        by_underlying[option.underlying] = (d + units * g.delta * spot, gm + units * g.gamma * spot * spot)
    held = {s: float(v) for s, v in values.items()}
    for underlying in by_underlying:
        held.setdefault(underlying, 0.0)
    involved = {s for s, v in held.items() if v != 0.0 and s in returns} | set(by_underlying)
    if not involved:
        return np.zeros(0)
    # align on the days every involved symbol has; a zero value keeps an option's underlying in
    n = min(len(returns[s]) for s in involved)
    if days is not None:
        n = min(n, days)
    linear = {s: held[s] for s in involved if held[s] != 0.0}
    pnl = align_book(linear, returns, window=n).pnl() if linear else np.zeros(n)
    for underlying, (cash_delta, cash_gamma) in by_underlying.items():
        r = np.asarray(returns[underlying], dtype=np.float64)[-n:] if n else np.zeros(0)
        if not np.isfinite(r).all():
            raise ValueError(f"returns for {underlying} are not finite")
        pnl = pnl + cash_delta * r + 0.5 * cash_gamma * r * r
    return np.asarray(pnl, dtype=np.float64)


def model_window(method: str, days: int) -> int:
    """The tail window the live model uses on ``days`` of history: its default, shortened so that
    a backtest of up to ``BACKTEST_DAYS`` still fits, but never under ``SHORTEST_FILTERED``
    (a GPD or a 99% quantile needs a year of standardised days); at most ``days - 1``."""
    preferred = default_window(method)
    if method not in CLASSIC_METHODS:
        preferred = min(FILTERED_WINDOW, max(SHORTEST_FILTERED, days - BACKTEST_DAYS))
    return max(MIN_WINDOW, min(preferred, days - 1))


def model_view(
    pnl: FloatArray,
    method: str,
    *,
    seed: int = 0,
    fits: Fits | None = None,
    session: int | None = None,
) -> tuple[VarFigures, tuple[VarBacktest, ...]]:
    """Today's ``VarFigures`` by ``method`` on the book's P&L series, and the model's backtest over
    the last (up to) ``BACKTEST_DAYS`` of it at 95% and 99%, from one roll (its last column is
    today). Zero figures with too little history; no backtest without a window plus 20 days.

    ``fits`` carries fitted parameters between calls (see ``FitCache``). ``session`` numbers
    today among all sessions (any fixed origin): the refit blocks are then laid on session
    numbers that are multiples of ``REFIT_EVERY``, so tomorrow's roll finds every block but the
    newest already fitted (on the same days' data), and a day costs at most one new fit, not
    thirteen; the backtest then covers the last 231 to 250 days. Blocks older than the
    backtest are dropped from ``fits``.
    """
    check_method(method)
    if pnl.size < MIN_OBSERVATIONS + 1 or not np.any(pnl):
        return zero_figures(method), ()
    n = pnl.size
    window = model_window(method, n)
    days = min(BACKTEST_DAYS, n - window)
    start = n - days if days >= MIN_OBSERVATIONS else n
    offset = 0 if session is None else session - n
    if session is not None and start < n:
        start += (-(start + offset)) % REFIT_EVERY
    f = roll(pnl, method, LEVELS, window=window, start=start, seed=seed, fits=fits, fits_offset=offset)
    if fits is not None and session is not None:
        for stale in [k for k in fits if k < start + offset]:
            del fits[stale]
    (v95, e95), (v99, e99) = f.live(LEVELS[0]), f.live(LEVELS[1])
    figures = VarFigures(method, v95, max(e95, v95), v99, max(e99, v99))
    if start == n:
        return figures, ()
    realised = pnl[f.start :]
    out: list[VarBacktest] = []
    for i, level in enumerate(f.levels):
        var, es, scale = f.var[i, :-1], f.es[i, :-1], f.scale[:-1]
        b = backtest(realised, var, es, scale, level, seed=seed)
        tail = slice(max(0, realised.size - RECENT_DAYS), realised.size)
        ratio = np.where(var[tail] > 0, -realised[tail] / np.where(var[tail] > 0, var[tail], 1.0), 0.0)
        out.append(
            VarBacktest(
                method=method,
                level=level,
                observations=b.observations,
                exceedances=b.exceedances,
                expected=b.expected,
                kupiec_p=b.kupiec_p,
                christoffersen_p=b.christoffersen_p,
                conditional_coverage_p=b.conditional_coverage_p,
                es_p=b.es_p,
                recent=tuple(round(float(r), 4) for r in ratio),
            )
        )
    return figures, tuple(out)


class FitCache:
    """Fitted GARCH/tail parameters of recent books, so a report every few seconds does not refit.

    Keyed by the method, the history's length and which symbols are held long and which short:
    prices moving and fills resizing positions reuse the parameters (the volatility recursion,
    the standardised windows and the tail quantiles are still recomputed on the new P&L); a new
    holding or a side flipped refits; a new session fits only its new block (``model_view``'s
    ``session``). Bounded (a few books), and locked: reports run on worker threads.
    """

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Fits] = OrderedDict()
        self._lock = threading.Lock()

    def fits(self, key: Hashable) -> Fits:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                found = self._entries[key] = {}
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            return found


FITS = FitCache()
"""The engine's cache (one engine per process; tests may pass their own or none)."""


def book_key(method: str, values: Mapping[str, float], days: int) -> Hashable:
    """The ``FitCache`` key of a book (see there for what refits and what does not)."""
    sides = tuple(sorted((s, float(v) > 0) for s, v in values.items() if v))
    return (method, days, sides)


SESSION_ORIGIN = np.datetime64("1990-01-01")


def session_number(day: date) -> int:
    """Weekdays since 1990: one more each session (a holiday also counts one: a block's
    parameters are then reused for a window one day off, which the refit schedule allows)."""
    return int(np.busday_count(SESSION_ORIGIN, np.datetime64(day)))
