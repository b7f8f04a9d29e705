"""Intraday speed on a year of 15-minute 24/7 bars (35,040 bars, one coin): the loader, the
replay (each bar played as 5 quotes through its OHLC), the card generator's scan (track record
of trend and mean reversion) and a whole card (scan, backtest, buy-and-hold, walk-forward on the
grid, 100-bar-shuffle permutation test).

Run with ``python -m tests.bench.intraday``. Figures are printed, not asserted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data.intraday import read_intraday
from engine.data.intraday_replay import play_bars, quotes
from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec
from engine.research.intraday import IntradaySet, card_for, series_bars
from engine.strategies.scan import scan_template
from engine.strategies.templates import TEMPLATES

BARS_A_YEAR = 96 * 365


def year_of_15min(path: Path, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    starts = pd.date_range("2021-01-01", periods=BARS_A_YEAR, freq="15min")
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, BARS_A_YEAR)))
    open_ = np.r_[30_000.0, close[:-1]]
    span = np.abs(rng.normal(0.0, 0.003, BARS_A_YEAR)) * close
    frame = pd.DataFrame(
        {
            "timestamp": starts.strftime("%Y-%m-%d %H:%M:%S"),
            "open": open_,
            "high": np.maximum(open_, close) + span,
            "low": np.minimum(open_, close) - span,
            "close": close,
            "volume": rng.integers(1, 500, BARS_A_YEAR).astype(float),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _timed(label: str, fn: object, *args: object, **kwargs: object) -> object:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)  # type: ignore[operator]
    print(f"  {label:<58}{time.perf_counter() - t0:8.3f} s")
    return out


def main() -> None:
    print(f"intraday: one year of 15-minute 24/7 bars ({BARS_A_YEAR:,} bars)")
    spec = InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO)
    with tempfile.TemporaryDirectory() as tmp:
        path = year_of_15min(Path(tmp) / "btc.csv")
        series = _timed("load and validate (CSV, 24/7 calendar)", read_intraday, path, spec, "15min")
    assert series is not None
    bq = _timed("replay: play_bars, 5 quotes a bar (arrays)", play_bars, series, steps=5)
    n_quotes = len(bq.last)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    n = sum(1 for _ in quotes(series, steps=5))  # type: ignore[arg-type,misc]
    dt = time.perf_counter() - t0
    print(
        f"  {'replay: as engine Quote objects':<58}{dt:8.3f} s  ({n / dt:,.0f} quotes/s, {n_quotes:,} quotes)"
    )
    panel = {"BTCUSD": series_bars(series)}  # type: ignore[arg-type]
    for name in ("trend", "mean_reversion"):
        tpl = TEMPLATES[name]
        scan_template(tpl, panel, tpl.params())  # warm: numba kernels compiled or loaded
        _timed(f"card generator scan (track record): {name}, warm", scan_template, tpl, panel, tpl.params())
    s = IntradaySet("BTC-15min", series, ("trend",))  # type: ignore[arg-type]
    _timed("whole card: trend (backtest, walk-forward, 0 permutations)", card_for, s, "trend", permutations=0)
    _timed("whole card: trend (with 100 permutations)", card_for, s, "trend", permutations=100)


if __name__ == "__main__":
    main()
