"""The whole risk report of the book, in one pure call.

Called off the engine's loop (a worker thread) on every fill and on a timer, so it is a pure
function of its arguments: no clock (``asof`` is passed in), no I/O, no globals, randomness only
from ``seed``. The returns are aligned once and every figure reads that same window, so the VaR,
the volatility and the correlation of one report always describe the same days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from engine.model.risk import RiskReport, VarBacktest, VarFigures
from engine.risk.book_risk import (
    book_beta,
    book_volatility,
    correlation_matrix,
    diversification_ratio,
    effective_positions,
    holding_betas,
)
from engine.risk.book_var import FITS, book_key, book_pnl, model_view, session_number
from engine.risk.greeks import OptionPosition, book_greeks
from engine.risk.stress_regime import regime_stress
from engine.risk.var import (
    MIN_OBSERVATIONS,
    align_book,
    figures_from_pnl,
    monte_carlo_from_book,
    parametric_from_pnl,
)


def compute_risk_report(
    *,
    asof: datetime,
    equity: float,
    values: Mapping[str, float],
    returns: Mapping[str, NDArray[np.floating]],
    benchmark: str,
    benchmark_returns: NDArray[np.floating] | None,
    options: Sequence[OptionPosition] = (),
    seed: int,
    scenarios: int,
    window_days: int,
    var_method: str = "",
    history: Mapping[str, NDArray[np.floating]] | None = None,
) -> RiskReport:
    """VaR by three methods, volatility, beta, correlation, concentration, Greeks and stress.

    ``values`` are the stock holdings' signed market values; ``returns`` their aligned daily
    returns, most recent last (only the last ``window_days`` are used); ``benchmark_returns`` the
    benchmark's on the same days. Holdings without a return series are left out of every
    history-based figure (and of ``symbols``) but still count in ``gross_value`` and in the
    effective number of positions. Options contribute their Greeks only: VaR and stress cover
    the ``values`` holdings. ``window_days`` in the report is the number of days actually used
    (fewer when the history is shorter). With under 20 days every VaR figure is zero and
    ``scenarios`` is 0.

    ``var_method`` (``[risk] var_method``, one of ``engine.risk.var_models.METHODS``) adds that
    model's figures to ``var`` (unless it is one of the three already there) and its backtest on
    the book's own history (``engine.risk.book_var``: options by delta-gamma), both computed on
    ``history`` (the holdings' longer return series; ``returns`` when not given). The stress
    scenarios are ``stress_regime.regime_stress``: scaled to today's volatility, with a
    volatility and a correlation-to-one shock.

    Raises ValueError, naming the symbol, for a non-finite value or return: a corrupted series is
    a data error to surface, not a number to average over.
    """
    book = align_book(values, returns, window=window_days)
    pnl = book.pnl()
    bench = _window(benchmark_returns, book.observations)
    simulated = bool(book.symbols) and book.observations >= MIN_OBSERVATIONS
    classic = (
        figures_from_pnl("historical", pnl),
        parametric_from_pnl(pnl),
        monte_carlo_from_book(book, scenarios=scenarios, seed=seed),
    )
    extra: tuple[VarFigures, ...] = ()
    backtests: tuple[VarBacktest, ...] = ()
    if var_method:
        model_pnl = book_pnl(values, history if history is not None else returns, options)
        fits = FITS.fits(book_key(var_method, values, model_pnl.size))
        session = session_number(asof.date())
        figures, backtests = model_view(model_pnl, var_method, seed=seed, fits=fits, session=session)
        if var_method not in {f.method for f in classic}:
            extra = (figures,)
    return RiskReport(
        asof=asof,
        equity=equity,
        gross_value=float(sum(abs(float(v)) for v in values.values())),
        var=classic + extra,
        volatility=book_volatility(book, equity=equity),
        beta=book_beta(book, bench, equity=equity),
        benchmark=benchmark,
        symbols=book.symbols,
        correlation=correlation_matrix(book),
        effective_positions=effective_positions(values),
        diversification_ratio=diversification_ratio(book),
        greeks=book_greeks(options),
        stress=regime_stress(book, equity=equity, betas=holding_betas(book, bench)),
        window_days=book.observations,
        scenarios=scenarios if simulated else 0,
        var_method=var_method,
        var_backtest=backtests,
    )


def _window(series: NDArray[np.floating] | None, days: int) -> NDArray[np.floating] | None:
    """The last ``days`` entries: the benchmark is read over the same days as the holdings."""
    if series is None:
        return None
    return series[max(len(series) - max(days, 0), 0) :]
