"""The backtester against vectorbt, backtesting.py and a plain numba loop, on one workload.

Workload: an SMA 10/50 crossover, long-only (long while SMA10 > SMA50, flat otherwise), on seeded
synthetic prices (a geometric random walk from a numpy ``Generator``), no costs, fractional
shares, all equity in the position while long, 100,000 of starting cash per account.

Convention (the same trades in every library): the signal of bar t (at its close) is acted on at
bar t+1 and filled at bar t+1's **close**, vectorbt's ``from_signals`` default price. So:

- onetap: ``engine.research.backtest.simulate`` with the close as the fill price, target weight
  = the signal shifted by one bar, ``rebalance_threshold=1.0`` (a held weight is never traded
  back to: a signal-driven portfolio), no costs; the SMAs, the signal ``fast > slow`` and its
  one-bar lag by ``engine.research.crossover.crossover_targets`` (one compiled pass writing the
  target weights; bit for bit ``engine.signals.columns.sma_columns`` twice and ``fast > slow``
  lagged in numpy, which is what the simulators-alone line feeds both simulators);
- vectorbt: ``vbt.MA.run`` for the SMAs, entries/exits from the shifted signal,
  ``Portfolio.from_signals`` (size: all cash), and the equity curve (``pf.value()``);
- backtesting.py: a ``Strategy`` whose ``next()`` at bar t reads the signal of bar t-1, run with
  ``trade_on_close=True`` (so the order fills at bar t's close) through ``FractionalBacktest``
  (fractional shares); 1-symbol cases only (the grid: one ``run`` per pair). It steps bar by bar
  in Python, so it gets fewer timed runs;
- a plain numba loop: SMA -> signal -> position -> equity in one ``njit`` function (the
  practical limit).

Cases: 1 symbol x 2,520 bars; 1 symbol x 100,000 bars; 500 symbols x 2,520 bars (500 independent
single-symbol accounts: vectorbt's columns, onetap's ``simulate_columns``, each account exactly
as ``simulate`` runs it alone); a 1-symbol grid sweep of fast 5..50 step 5 by slow 20..200
step 10, pairs with fast < slow only (174 accounts).

Timings are end to end (indicators, signals, simulation, equity curve) and warm: each contestant
runs once untimed first (numba compiles, vectorbt's caches fill), then the median of a few timed
runs is printed. A second line per case times the simulators alone on precomputed signals
(onetap's includes lagging them into target weights, as vectorbt's includes reading entries/exits).
Final equity is compared with vectorbt's (max relative difference over the accounts). The
1-symbol 2,520-bar case also prints each contestant's fixed cost per call (the same run on 60 bars),
which is a large share of a run this small.

Run with ``python -m tests.bench.backtest`` (needs the ``bench`` extra). Figures are printed,
not asserted (machines here are noisy).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from unittest.mock import patch

import numba
import numpy as np
import pandas as pd

from engine.research.backtest import BacktestConfig, Costs, simulate, simulate_columns
from engine.research.crossover import crossover_targets
from engine.signals.columns import sma_columns

START = 100_000.0
CONFIG = BacktestConfig(
    fill="close",
    costs=Costs(per_share=0.0, per_value=0.0, slippage_bps=0.0),
    rebalance_threshold=1.0,
    start_equity=START,
)
FAST, SLOW = 10, 50
T = TypeVar("T")
GRID = [(f, s) for f in range(5, 51, 5) for s in range(20, 201, 10) if f < s]


def prices(bars: int, symbols: int, seed: int) -> np.ndarray:
    """``[T, N]`` closes: a geometric random walk, ~1% daily volatility, slight drift."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0002, 0.01, (bars, symbols))
    return 100.0 * np.exp(np.cumsum(steps, axis=0))


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Median wall time in ms over ``runs``, after one untimed (compiling, cache-filling) run,
    and what the last run returned."""
    result = fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(out)), result


# --- onetap ------------------------------------------------------------------------------------


def _lagged(signal: np.ndarray) -> np.ndarray:
    target = np.zeros(signal.shape)
    target[1:] = signal[:-1]
    return target


def onetap_sim(dates: np.ndarray, close: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Final equity of each column's account (``target``: ``[T, K]`` weights, already lagged):
    one account through ``simulate``, several independent ones through ``simulate_columns``."""
    if target.shape[1] == 1:
        return simulate(dates, ("X",), close, close, target, CONFIG).equity[-1:]
    final: np.ndarray = simulate_columns(close, close, target, CONFIG)[-1]
    return final


def onetap_targets(close: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """``[T, K]`` lagged crossover weights, one column per symbol (one pair) or per pair (one
    symbol), by ``crossover_targets`` (both means and the signal in one compiled pass)."""
    if len(pairs) == 1:
        return crossover_targets(close, pairs[0][0], pairs[0][1])
    return crossover_targets(close, [f for f, _ in pairs], [s for _, s in pairs])


def onetap_signals(close: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """``[T, K]`` signals (unlagged) the unfused way: ``sma_columns`` twice and ``fast > slow``
    (the inputs given to the simulators-alone race, and what ``onetap_targets`` must equal)."""
    if close.shape[1] > 1:
        (f, s) = pairs[0]
        fast, slow = sma_columns(close, f), sma_columns(close, s)
    else:  # one series, one column per window (each distinct window computed once)
        fast, slow = sma_columns(close, [f for f, _ in pairs]), sma_columns(close, [s for _, s in pairs])
    signal: np.ndarray = fast > slow
    return signal


def onetap_run(dates: np.ndarray, close: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    return onetap_sim(dates, close, onetap_targets(close, pairs))


# --- vectorbt ----------------------------------------------------------------------------------


def vbt_entries_exits(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries/exits of the one-bar-lagged signal (acted on at the next bar's close)."""
    held = np.zeros(signal.shape, dtype=bool)
    held[1:] = signal[:-1]
    before = np.zeros(signal.shape, dtype=bool)
    before[1:] = held[:-1]
    return held & ~before, ~held & before


def vbt_sim(vbt: Any, close: pd.DataFrame, entries: np.ndarray, exits: np.ndarray) -> Any:
    return vbt.Portfolio.from_signals(close, entries, exits, init_cash=START, freq="1D")


def vbt_run(vbt: Any, close: pd.DataFrame, pairs: list[tuple[int, int]]) -> np.ndarray:
    """End to end; returns the equity curve ``[T, K]``."""
    ma = vbt.MA
    if close.shape[1] > 1:
        (f, s) = pairs[0]
        signal = ma.run(close, f).ma.to_numpy() > ma.run(close, s).ma.to_numpy()
        frame = close
    else:
        series = close.iloc[:, 0]
        fast = ma.run(series, [f for f, _ in pairs]).ma.to_numpy()
        slow = ma.run(series, [s for _, s in pairs]).ma.to_numpy()
        signal = (fast > slow).reshape(len(close), len(pairs))  # one pair comes back 1-D
        frame = pd.DataFrame(np.repeat(close.to_numpy(), len(pairs), axis=1), index=close.index)
    entries, exits = vbt_entries_exits(signal)
    return vbt_sim(vbt, frame, entries, exits).value().to_numpy()


# --- plain numba loop --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _plain(close: np.ndarray, fast: np.ndarray, slow: np.ndarray, start: float) -> np.ndarray:
    """Account k trades column ``k % N`` with SMAs ``fast[k]``/``slow[k]``: equity ``[T, K]``."""
    n_bars, n = close.shape
    k_all = fast.shape[0]
    equity = np.empty((n_bars, k_all))
    for k in range(k_all):
        col = k % n
        f, s = fast[k], slow[k]
        sum_f = 0.0
        sum_s = 0.0
        cash = start
        shares = 0.0
        want = False  # the signal of the previous bar
        for t in range(n_bars):
            price = close[t, col]
            if want and shares == 0.0:
                shares = cash / price
                cash = 0.0
            elif not want and shares != 0.0:
                cash += shares * price
                shares = 0.0
            equity[t, k] = cash + shares * price
            sum_f += price
            sum_s += price
            if t >= f:
                sum_f -= close[t - f, col]
            if t >= s:
                sum_s -= close[t - s, col]
            want = t >= s - 1 and sum_f / f > sum_s / s
    return equity


def plain_run(close: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    k = max(close.shape[1], len(pairs))
    fast = np.array([p[0] for p in pairs] * (k // len(pairs)), dtype=np.int64)
    slow = np.array([p[1] for p in pairs] * (k // len(pairs)), dtype=np.int64)
    return _plain(np.ascontiguousarray(close), fast, slow, START)


# --- backtesting.py ----------------------------------------------------------------------------


def bt_run(close: np.ndarray, index: pd.DatetimeIndex, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Final equity per pair: one ``FractionalBacktest``, run once per pair."""
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
        return pd.Series(x).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):  # type: ignore[misc]
        fast_n = FAST
        slow_n = SLOW

        def init(self) -> None:
            self.fast = self.I(rolling_mean, self.data.Close, self.fast_n)
            self.slow = self.I(rolling_mean, self.data.Close, self.slow_n)

        def next(self) -> None:
            want = self.fast[-2] > self.slow[-2]  # the previous bar's signal, filled at this close
            if want and not self.position:
                self.buy()
            elif not want and self.position:
                self.position.close()

    data = pd.DataFrame({c: close for c in ("Open", "High", "Low", "Close")}, index=index)
    data["Volume"] = 1.0
    final = np.empty(len(pairs))
    # backtesting.py has no switch for its progress bar: its private tqdm wrapper is replaced.
    with warnings.catch_warnings(), patch("backtesting.backtesting._tqdm", lambda seq, **_: seq):
        warnings.simplefilter("ignore")  # no progress bar, no open-trade-at-the-end warning
        bt = FractionalBacktest(
            data, SmaCross, cash=START, commission=0.0, trade_on_close=True, fractional_unit=1e-8
        )
        for k, (f, s) in enumerate(pairs):
            final[k] = bt.run(fast_n=f, slow_n=s)["Equity Final [$]"]
    return final


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    bars: int
    symbols: int
    pairs: list[tuple[int, int]]
    runs: int
    bt_runs: int
    """backtesting.py's timed runs (0: not run)."""


CASES = (
    Case("1 symbol x 2,520 bars", 2_520, 1, [(FAST, SLOW)], 15, 5),
    Case("1 symbol x 100,000 bars", 100_000, 1, [(FAST, SLOW)], 7, 2),
    Case("500 symbols x 2,520 bars", 2_520, 500, [(FAST, SLOW)], 5, 0),
    Case(f"grid of {len(GRID)} pairs, 1 symbol x 2,520 bars", 2_520, 1, GRID, 7, 1),
)


def _rel(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref) / np.abs(ref)))


def _import_vbt() -> tuple[Any, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import vectorbt

        return vectorbt, vectorbt.__version__
    except Exception as exc:  # not installed, or broken against this numba/numpy
        return None, f"{type(exc).__name__}: {exc}"


def _import_bt() -> tuple[bool, str]:
    try:
        import backtesting

        return True, backtesting.__version__
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _fills(signals: np.ndarray) -> int:
    """Orders the lagged signal makes (an entry or an exit each time it changes)."""
    return int(np.sum(np.abs(np.diff(_lagged(signals), axis=0, prepend=0.0))))


def run_case(case: Case, vbt: Any, have_bt: bool) -> None:
    close = prices(case.bars, case.symbols, seed=case.bars + case.symbols)
    index = pd.date_range("2000-01-03", periods=case.bars, freq="D")
    dates = index.to_numpy()
    frame = pd.DataFrame(close, index=index)
    runs = case.runs

    t_one, final_one = timed(lambda: onetap_run(dates, close, case.pairs), runs)
    t_plain, equity_plain = timed(lambda: plain_run(close, case.pairs), runs)
    final_plain = equity_plain[-1]
    times = [f"onetap {t_one:.2f} ms"]
    ratios = []
    diffs = []
    ref = final_plain
    sims = ""
    if vbt is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_vbt, equity_vbt = timed(lambda: vbt_run(vbt, frame, case.pairs), runs)
            ref = equity_vbt[-1]
            signals = onetap_signals(close, case.pairs)
            entries, exits = vbt_entries_exits(signals)
            wide = close if case.symbols > 1 else np.repeat(close, signals.shape[1], axis=1)
            sim_frame = pd.DataFrame(wide, index=index)
            t_vsim, pf = timed(lambda: _with_value(vbt_sim(vbt, sim_frame, entries, exits)), runs)
            vbt_fills = int(pf.orders.count().sum())
        t_osim, _ = timed(lambda: onetap_sim(dates, close, _lagged(signals)), runs)
        times.append(f"vectorbt {t_vbt:.2f} ms")
        ratios.append(f"onetap/vectorbt {t_one / t_vbt:.3f}")
        diffs += [f"onetap {_rel(final_one, ref):.1e}", f"plain {_rel(final_plain, ref):.1e}"]
        sims = (
            f"    simulators alone (signals given): onetap {t_osim:.2f} ms  vectorbt {t_vsim:.2f} ms  "
            f"onetap/vectorbt {t_osim / t_vsim:.3f}  fills onetap/vectorbt {_fills(signals)}/{vbt_fills}"
        )
    else:
        diffs.append(f"onetap {_rel(final_one, final_plain):.1e}")
    times.append(f"plain numba {t_plain:.3f} ms")
    ratios.append(f"onetap/plain {t_one / t_plain:.1f}")
    if have_bt and case.bt_runs:
        t_bt, final_bt = timed(lambda: bt_run(close[:, 0], index, case.pairs), case.bt_runs)
        times.append(f"backtesting.py {t_bt:.0f} ms")
        ratios.append(f"onetap/backtesting.py {t_one / t_bt:.5f}")
        diffs.append(f"backtesting.py {_rel(final_bt, ref):.1e}")
    elif have_bt:
        times.append("backtesting.py not run (1-symbol cases only)")
    bt_runs = f", backtesting.py {case.bt_runs}" if have_bt and case.bt_runs else ""
    print(f"backtest: {case.label} (median of {runs} warm runs{bt_runs})")
    print("    " + "  ".join(times))
    print("    " + "  ".join(ratios))
    vs = "vectorbt" if vbt is not None else "the plain loop (vectorbt skipped)"
    print(f"    max rel diff of final equity vs {vs}: " + ", ".join(diffs))
    if sims:
        print(sims)
    if case.symbols == 1 and len(case.pairs) == 1 and case.bars < 10_000:
        tiny = close[:60]
        t_one_tiny, _ = timed(lambda: onetap_run(dates[:60], tiny, case.pairs), 200)
        t_plain_tiny, _ = timed(lambda: plain_run(tiny, case.pairs), 200)
        print(
            f"    fixed cost per call (the same run on 60 bars): onetap {t_one_tiny * 1000:.1f} us  "
            f"plain numba {t_plain_tiny * 1000:.1f} us"
        )


def _with_value(pf: Any) -> Any:
    pf.value()  # vectorbt computes the equity curve on demand: part of the work
    return pf


def main() -> None:
    vbt, vbt_info = _import_vbt()
    have_bt, bt_info = _import_bt()
    print(
        f"backtest: SMA {FAST}/{SLOW} long-only, signal at t filled at t+1's close, no costs; "
        f"numba {numba.__version__}, numpy {np.__version__}, pandas {pd.__version__}; "
        f"vectorbt {vbt_info if vbt is not None else 'skipped: ' + vbt_info}; "
        f"backtesting.py {bt_info if have_bt else 'skipped: ' + bt_info}"
    )
    for case in CASES:
        run_case(case, vbt, have_bt)


if __name__ == "__main__":
    main()
