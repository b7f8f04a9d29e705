"""Portfolio optimizers: time per solve, ours against PyPortfolioOpt's equivalent, same inputs, same run.

For 20, 100 and 500 assets of synthetic factor-model returns (three factors plus idiosyncratic noise,
1,000 days, seeded) and for the real 20-stock panel (the last 2,000 sessions to end-2022), each of
``engine.portfolio.optimize``'s methods is timed end to end through ``optimize`` (estimating the mean
and covariance from the returns included), long-only with a 15% per-asset cap (20 assets) or 5%
(100, 500). PyPortfolioOpt is timed doing the same job: its mean/sample covariance from the returns,
then ``EfficientFrontier`` (cvxpy) ``min_volatility`` / ``max_sharpe`` (risk-free 2%) /
``efficient_return`` (12%), ``HRPOpt``, ``EfficientCVaR.min_cvar`` (95%) and ``BlackLittermanModel``
(market caps, one absolute view, He-Litterman Omega, tau 0.05, delta 2.5) + ``max_quadratic_utility``.
Equal weight, inverse volatility and risk parity have no PyPortfolioOpt equivalent ("-").

The table shows the median milliseconds, the ratio ours/theirs (below 1: we are faster) and the
largest weight difference. Run with ``python -m tests.bench.optimizers``. Figures are printed, not
asserted (machines here are noisy).
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from engine.data.shipped import load_close_panel
from engine.portfolio.optimize import Constraints, Method, Views, optimize

DAYS = 1_000
TARGET_RETURN = 0.12


def factor_returns(assets: int, days: int = DAYS, seed: int = 11) -> pd.DataFrame:
    """Daily returns from three factors (market, two styles) plus idiosyncratic noise."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 1.0, (days, 3)) * np.array([0.011, 0.006, 0.004])
    loadings = rng.normal(1.0, 0.3, (assets, 3)) * np.array([1.0, 0.6, 0.6])
    drift = rng.uniform(0.0001, 0.0008, assets)
    noise = rng.normal(0.0, 1.0, (days, assets)) * rng.uniform(0.008, 0.025, assets)
    return pd.DataFrame(factors @ loadings.T + drift + noise, columns=[f"S{j:04d}" for j in range(assets)])


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    out = fn()  # warm-up (imports, caches) and the answer compared below
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times)), out


def theirs(method: Method, returns: pd.DataFrame, cap: float) -> Callable[[], pd.Series] | None:
    """PyPortfolioOpt doing what ``optimize(method, ...)`` does, or None when it has no equivalent."""
    pypfopt: Any = importlib.import_module("pypfopt")  # untyped: kept out of mypy's sight

    def inputs() -> tuple[pd.Series, pd.DataFrame]:
        mu = pypfopt.expected_returns.mean_historical_return(returns, returns_data=True, compounding=False)
        return mu, pypfopt.risk_models.sample_cov(returns, returns_data=True)

    def frontier(run: Callable[[Any], object]) -> Callable[[], pd.Series]:
        def go() -> pd.Series:
            mu, cov = inputs()
            ef = pypfopt.EfficientFrontier(mu, cov, weight_bounds=(0.0, cap))
            run(ef)
            return pd.Series(ef.clean_weights(rounding=None))

        return go

    def hrp() -> pd.Series:
        return pd.Series(pypfopt.HRPOpt(returns).optimize())

    def cvar() -> pd.Series:
        mu, _ = inputs()
        return pd.Series(pypfopt.EfficientCVaR(mu, returns, beta=0.95, weight_bounds=(0.0, cap)).min_cvar())

    def black_litterman() -> pd.Series:
        _, cov = inputs()
        caps = pd.Series(np.linspace(1.0, 3.0, returns.shape[1]), index=returns.columns)
        bl = pypfopt.BlackLittermanModel(
            cov, pi="market", market_caps=caps, risk_aversion=2.5, absolute_views={returns.columns[0]: 0.2}
        )
        ef = pypfopt.EfficientFrontier(bl.bl_returns(), bl.bl_cov(), weight_bounds=(0.0, cap))
        ef.max_quadratic_utility(2.5)
        return pd.Series(ef.clean_weights(rounding=None))

    table: dict[Method, Callable[[], pd.Series]] = {
        Method.MIN_VARIANCE: frontier(lambda ef: ef.min_volatility()),
        Method.MAX_SHARPE: frontier(lambda ef: ef.max_sharpe(risk_free_rate=0.02)),
        Method.MEAN_VARIANCE: frontier(lambda ef: ef.efficient_return(TARGET_RETURN)),
        Method.HRP: hrp,
        Method.MIN_CVAR: cvar,
        Method.BLACK_LITTERMAN: black_litterman,
    }
    return table.get(method)


def ours(method: Method, returns: pd.DataFrame, cap: float) -> Callable[[], pd.Series]:
    constraints = Constraints(max_weight=None if method is Method.HRP else cap, sector_cap=None)
    caps = pd.Series(np.linspace(1.0, 3.0, returns.shape[1]), index=returns.columns)
    views = Views.absolute(list(returns.columns), {returns.columns[0]: 0.2})

    def go() -> pd.Series:
        return optimize(
            method,
            returns,
            constraints,
            risk_free_rate=0.0 if method is Method.BLACK_LITTERMAN else 0.02,
            target_return=TARGET_RETURN if method is Method.MEAN_VARIANCE else None,
            market_weights=caps,
            views=views,
        ).weights

    return go


def row(label: str, method: Method, returns: pd.DataFrame, cap: float, runs: int) -> str:
    ours_ms, ours_w = timed(ours(method, returns, cap), runs)
    reference = theirs(method, returns, cap)
    if reference is None:
        return f"{label:>7} {method.value:<19} {ours_ms:>10.1f} {'-':>12} {'-':>8} {'-':>10}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_ms, their_w = timed(reference, runs)
    assert isinstance(ours_w, pd.Series) and isinstance(their_w, pd.Series)
    gap = float(np.abs(ours_w - their_w.reindex(ours_w.index)).max())
    ratio = ours_ms / their_ms
    return f"{label:>7} {method.value:<19} {ours_ms:>10.1f} {their_ms:>12.1f} {ratio:>8.2f} {gap:>10.1e}"


def main() -> None:
    print(
        "optimizers: median ms per solve, ours vs PyPortfolioOpt (HRP uncapped on both sides: HRPOpt has "
        "no caps)"
    )
    print(f"{'assets':>7} {'method':<19} {'ours ms':>10} {'pypfopt ms':>12} {'ratio':>8} {'max |dw|':>10}")
    panel = load_close_panel().pct_change().dropna().iloc[-2_000:]
    cases = [
        ("20 real", panel, 0.15, 5),
        ("20", factor_returns(20), 0.15, 5),
        ("100", factor_returns(100), 0.05, 3),
        ("500", factor_returns(500), 0.05, 3),
    ]
    for label, returns, cap, runs in cases:
        for method in Method:
            print(row(label, method, returns, cap, runs), flush=True)


if __name__ == "__main__":
    main()
