"""VaR models: time per update by method, and the evidence table behind ``[risk] var_method``.

Timings, per method, of one VaR update of the live book as the risk report runs it
(``engine.risk.book_var``): the book's P&L over 1,250 days of history (a matvec), today's
forecast, and the 250-day backtest, for
- a 50-position book and a 500-asset book (synthetic, seeded: a market factor plus noise);
- "cold": a book's first report (every GARCH/Student-t/GPD block fitted: 13 blocks);
- "next day": the first report of a new session (yesterday's fits reused, one new block);
- "warm": every later report that session (``FitCache`` reuses the fits; the volatility
  recursion, windows and quantiles are recomputed);
- "forecast": today's figure alone, no backtest (one block).

The table: every method rolled out of sample over every shipped series (returns of the daily
close) at 95% and 99%, all on the same days (from day 1,000, the filtered models' window), with
exceedances/expected and the Kupiec, Christoffersen and McNeil-Frey (ES) p-values. README's
"VaR models" section is this table. About a minute per series on a quiet machine.

Run with ``python -m tests.bench.var`` (``--timings`` or ``--table`` for one part).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from engine.data.shipped import SHIPPED_SYMBOLS, load_shipped
from engine.risk.book_var import FitCache, book_pnl, model_view
from engine.risk.var_backtest import backtest
from engine.risk.var_models import FILTERED_WINDOW, METHODS, Fits, roll

HISTORY = 1_251
"""1,250 days for the report plus one: yesterday's series is the first 1,250."""
LEVELS = (0.95, 0.99)
TABLE_ORDER = ("SPX", "AAPL", "MSFT", "IBM", "GOOG", "AMZN")


def synthetic(assets: int, seed: int = 7) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    market = rng.standard_t(5, HISTORY) * 0.009
    loadings = rng.uniform(0.5, 1.5, assets)
    returns = market[:, None] * loadings + rng.standard_t(5, (HISTORY, assets)) * 0.011
    symbols = [f"S{j:04d}" for j in range(assets)]
    values = rng.normal(10_000.0, 6_000.0, assets)
    return dict(zip(symbols, values.tolist(), strict=True)), {s: returns[:, j] for j, s in enumerate(symbols)}


def ms(fn: Callable[[], object], runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(out))


def timings() -> None:
    print("VaR update per method (median ms; P&L matvec + forecast [+ 250-day backtest]), 1,250 days")
    print(f"{'method':<16}{'book':>6}{'cold':>10}{'next day':>10}{'warm':>10}{'forecast':>10}")
    for assets in (50, 500):
        values, series = synthetic(assets)
        for method in METHODS:
            runs = 3 if method in ("fhs_garch", "fhs_gjr", "evt", "evt_gjr", "student_t") else 5
            cells = "".join(f"{ms(fn, runs):>10.1f}" for fn in updates(method, values, series))
            print(f"{method:<16}{assets:>6}{cells}")


def updates(
    method: str, values: dict[str, float], series: dict[str, np.ndarray]
) -> tuple[Callable[[], object], ...]:
    """The timed updates: cold (every block fitted), next day (yesterday's fits, one new block),
    warm (today's fits cached), today's forecast alone (no backtest)."""
    session = 9_000
    yesterday: Fits = FitCache().fits("bench")
    before = {s: r[:-1] for s, r in series.items()}
    returns = {s: r[1:] for s, r in series.items()}  # today's 1,250 days
    model_view(book_pnl(values, before), method, fits=yesterday, session=session)
    today_fits: Fits = {}
    model_view(book_pnl(values, returns), method, fits=today_fits, session=session + 1)
    window = 250 if method in METHODS[:3] else FILTERED_WINDOW

    def cold() -> object:
        return model_view(book_pnl(values, returns), method, fits={}, session=session + 1)

    def next_day() -> object:
        return model_view(book_pnl(values, returns), method, fits=dict(yesterday), session=session + 1)

    def warm() -> object:
        return model_view(book_pnl(values, returns), method, fits=today_fits, session=session + 1)

    def forecast_only() -> object:
        pnl = book_pnl(values, returns)
        return roll(pnl, method, LEVELS, window=window, start=pnl.size)

    return cold, next_day, warm, forecast_only


def table() -> None:
    market = load_shipped(SHIPPED_SYMBOLS)
    print("| series | method | level | exceed. / expected | Kupiec p | Christoffersen p | ES p | both pass |")
    print("|---|---|---|---|---|---|---|---|")
    for symbol in TABLE_ORDER:
        close = market.bars[symbol]["close"].to_numpy(dtype=np.float64)
        returns = close[1:] / close[:-1] - 1.0
        for method in METHODS:
            window = 250 if method in METHODS[:3] else FILTERED_WINDOW
            f = roll(returns, method, LEVELS, window=window, start=FILTERED_WINDOW)
            realised = returns[f.start :]
            for i, level in enumerate(f.levels):
                b = backtest(realised, f.var[i, :-1], f.es[i, :-1], f.scale[:-1], level)
                es = "n/a" if b.es_p is None else f"{b.es_p:.3f}"
                print(
                    f"| {symbol} | {method} | {level:.0%} | {b.exceedances} / {b.expected:.1f} | "
                    f"{b.kupiec_p:.3f} | {b.christoffersen_p:.3f} | {es} | {'yes' if b.passes else 'no'} |"
                )
        sys.stdout.flush()


def main() -> None:
    timings()
    table()


if __name__ == "__main__":
    parts = sys.argv[1:]
    if not parts or "--timings" in parts:
        timings()
    if not parts or "--table" in parts:
        table()
