"""Portfolio-risk cost and quality: VaR timings on large synthetic books, VaR backtest on real data.

- Monte Carlo VaR, 500 assets x 10,000 scenarios, through the public ``monte_carlo_var`` (aligning
  the returns included): with 250 days of history (fewer days than symbols: the sample covariance
  is singular and the centred returns are its factor) and with 1,000 days (positive definite: the
  covariance and its Cholesky factor are computed);
- historical VaR of 1,000 positions over 250 days;
- the full ``compute_risk_report`` of a 50-holding book, as the engine runs it on every fill;
- a rolling one-day historical VaR (250-day window) backtested on the shipped real data, an
  equal-weight book of the five stocks and the SPX alone, with Kupiec's proportion-of-failures test.

Run with ``python -m tests.bench.risk_portfolio``. Synthetic returns are seeded; figures are
printed, not asserted (machines here are noisy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from engine.data.shipped import load_shipped
from engine.risk.report import compute_risk_report
from engine.risk.var import historical_var, kupiec_pof, monte_carlo_var, rolling_historical_var

TARGET_MS = 100.0
STOCKS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")
WINDOW = 250


def synthetic_book(assets: int, days: int, seed: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Returns with a market factor and idiosyncratic noise (realistic correlations), long/short values."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.011, days)
    loadings = rng.uniform(0.5, 1.5, assets)
    returns = market[:, None] * loadings + rng.normal(0.0, 0.015, (days, assets))
    symbols = [f"S{j:04d}" for j in range(assets)]
    values = rng.normal(10_000.0, 6_000.0, assets)
    return (
        {s: float(v) for s, v in zip(symbols, values, strict=True)},
        {s: returns[:, j] for j, s in enumerate(symbols)},
    )


def timed(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def line(label: str, ms: list[float], target: float = TARGET_MS) -> str:
    median = float(np.median(ms))
    return (
        f"risk: {label}  median {median:.1f} ms  p99/max {np.percentile(ms, 99):.1f}/{max(ms):.1f} ms  "
        f"({len(ms)} runs)  target {target:.0f} ms  ratio {median / target:.2f}"
    )


def timings(runs: int) -> None:
    for days in (250, 1_000):
        values, returns = synthetic_book(500, days, seed=1)
        ms = timed(lambda v=values, r=returns: monte_carlo_var(v, r, scenarios=10_000, seed=7), runs)
        print(line(f"monte carlo VaR 500 assets x 10000 scenarios ({days} days)", ms))
    values, returns = synthetic_book(1_000, 250, seed=2)
    print(
        line("historical VaR 1000 positions (250 days)", timed(lambda: historical_var(values, returns), runs))
    )
    values, returns = synthetic_book(50, 250, seed=3)
    bench = np.random.default_rng(4).normal(0.0003, 0.011, 250)
    asof = datetime(2013, 3, 1, tzinfo=UTC)

    def full() -> object:
        return compute_risk_report(
            asof=asof,
            equity=600_000.0,
            values=values,
            returns=returns,
            benchmark="SPX",
            benchmark_returns=bench,
            seed=7,
            scenarios=10_000,
            window_days=250,
        )

    print(line("full report 50 holdings, 10000 scenarios (250 days)", timed(full, runs)))


def backtest(name: str, pnl: np.ndarray, first: pd.Timestamp, last: pd.Timestamp) -> None:
    realised = pnl[WINDOW:]
    parts = [
        f"risk: VaR backtest {name} {first:%Y-%m-%d}..{last:%Y-%m-%d}  window {WINDOW}  n {realised.size}"
    ]
    for level in (0.95, 0.99):
        forecasts = rolling_historical_var(pnl, window=WINDOW, level=level)
        hits = int(np.count_nonzero(-realised > forecasts))
        expected = (1.0 - level) * realised.size
        p_value = kupiec_pof(hits, realised.size, level)
        parts.append(
            f"{level:.0%}: {hits} exceedances (expected {expected:.1f}, rate {hits / realised.size:.2%})"
            f"  Kupiec p {p_value:.3g}"
        )
    print("  ".join(parts))


def backtests() -> None:
    md = load_shipped([*STOCKS, "SPX"])
    closes = pd.concat({s: md.bars[s]["close"] for s in STOCKS}, axis=1, join="inner")
    daily = closes.pct_change().dropna()
    backtest("equal-weight 5 stocks", daily.mean(axis=1).to_numpy(), daily.index[WINDOW], daily.index[-1])
    spx = md.bars["SPX"]["close"].pct_change().dropna()
    backtest("SPX", spx.to_numpy(), spx.index[WINDOW], spx.index[-1])


def main(runs: int = 30) -> None:
    timings(runs)
    backtests()


if __name__ == "__main__":
    main()
