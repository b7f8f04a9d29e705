"""What the exit policies cost or save: every template backtested with and without its exits.

On the shipped universe (``load_panel``: the configured symbols over the span they all have),
default costs and slots, each template is run twice by ``engine.research.backtest.run_template``:
with its exit policy (config/strategies.toml: resting stops, targets, trailing stops, filled
within the bar; the time exit) and with ``exits=False`` (no stop, no target, no trailing stop:
only the template's exit rule and the time exit). Beside them, buy-and-hold of the same symbols
(equal weight, same costs). Columns: Sharpe (annualised, daily), max drawdown, worst trade (a
setup trade's return on its capital, before costs), total return, the number of trades and how
they ended. Templates whose policy rests nothing (rotation, pairs, options) differ between the
two runs only by their close-checked basket stops, which ``exits=False`` drops too.

Then the exit model's speed: ``setup_exits`` over every signal of every setup of momentum (one
call per setup, all its trades at once), warm.

Run with ``python -m tests.bench.exits``. Figures are printed, not asserted.
"""

from __future__ import annotations

import time

import numpy as np

from engine.config import load_settings
from engine.research.backtest import DEFAULT_CONFIG, BacktestConfig, run_template
from engine.research.metrics import max_drawdown, sharpe_ratio
from engine.research.runs import buy_and_hold, load_panel
from engine.strategies.exits import setup_exits
from engine.strategies.templates import TEMPLATES


def _row(label: str, returns: np.ndarray, trades: np.ndarray | None, reasons: dict[str, int] | None) -> str:
    worst = f"{trades.min():+8.1%}" if trades is not None and trades.size else "       —"
    n = f"{trades.size:6d}" if trades is not None else "     —"
    total = float(np.prod(1.0 + returns) - 1.0)
    ended = ", ".join(f"{k} {v}" for k, v in sorted((reasons or {}).items(), key=lambda kv: -kv[1]))
    return (
        f"  {label:<26} {sharpe_ratio(returns):6.2f} {max_drawdown(returns):8.1%} {worst} "
        f"{total:+8.1%} {n}  {ended}"
    )


def main() -> None:
    panel = load_panel(load_settings())
    span = f"{min(b.dates[0] for b in panel.values())} .. {max(b.dates[-1] for b in panel.values())}"
    print(f"exits: every template with and without its exit policy ({', '.join(sorted(panel))}, {span})")
    print(f"  {'':<26} {'Sharpe':>6} {'max DD':>8} {'worst':>8} {'total':>8} {'trades':>6}  how they ended")
    bench = buy_and_hold(panel)
    print(_row("buy-and-hold (equal weight)", bench.returns, None, None))
    for name, template in TEMPLATES.items():
        policy = template.exit_policy.describe()
        for exits in (True, False):
            config = DEFAULT_CONFIG if exits else BacktestConfig(exits=False)
            bt = run_template(template, panel, None, config)
            label = f"{name} {'with exits' if exits else 'no exits'}"
            print(_row(label, bt.returns, bt.trade_returns, bt.exit_reasons))
        print(f"  {'':<26} policy: {policy}")

    template = TEMPLATES["momentum"]
    setups = template.build(panel, template.params())
    signals = [np.flatnonzero(s.entry[:-1]).astype(np.int64) for s in setups]
    for s, sig in zip(setups, signals, strict=True):  # warm: numba compiles once
        setup_exits(s, sig, template.horizon_days, template.exit_policy)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for s, sig in zip(setups, signals, strict=True):
            setup_exits(s, sig, template.horizon_days, template.exit_policy)
        runs.append(time.perf_counter() - t0)
    n = sum(len(sig) for sig in signals)
    best = float(np.median(runs))
    print(
        f"exit model: {n} momentum trades over {len(setups)} setups in {best * 1e3:.1f} ms "
        f"({n / best:,.0f} trades/s)"
    )


if __name__ == "__main__":
    main()
