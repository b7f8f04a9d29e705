"""The console's door to the FX and crypto cards of ``[data] intraday`` (``engine.research.intraday``).

``onetap cards`` prints these after the daily cards: one row per set and template with its track
record, its backtest and walk-forward beside buy-and-hold, the permutation p-value and the verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

from engine.config import Settings
from engine.data.intraday_sets import sets_path as intraday_sets_path
from engine.research.intraday import DEFAULT_PERMUTATIONS, SetCard, load_sets, set_cards


def sets_path(settings: Settings) -> Path | None:
    """``[data] intraday`` as a path (``engine.data.intraday_sets.sets_path``)."""
    return intraday_sets_path(settings.data.intraday)


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def card_row(c: SetCard) -> dict[str, object]:
    """One card as a JSON-able row (``onetap cards --json`` prints it with ``"intraday": true``)."""
    return {
        "intraday": True,
        "set": c.set_name,
        "symbol": c.symbol,
        "bar": c.bar,
        "calendar": c.calendar,
        "template": c.template,
        "periods_per_year": c.periods_per_year,
        "entry_now": c.entry_now,
        "reason": c.reason,
        "track_record": {
            "trades": c.record.n,
            "win_rate": _num(c.record.win_rate),
            "mean_return": _num(c.record.mean),
        },
        "backtest": {
            "sharpe": _num(c.backtest.sharpe),
            "total_return": _num(c.backtest.total_return),
            "max_drawdown": _num(c.backtest.max_drawdown),
            "trades": c.backtest.n_trades,
        },
        "buy_hold": {"sharpe": _num(c.buy_hold.sharpe), "total_return": _num(c.buy_hold.total_return)},
        "walk_forward": {
            "sharpe": _num(c.oos.sharpe),
            "total_return": _num(c.oos.total_return),
            "deflated_sharpe": _num(c.oos.dsr),
            "windows": len(c.windows),
            "buy_hold_sharpe": _num(c.oos_buy_hold.sharpe),
            "buy_hold_return": _num(c.oos_buy_hold.total_return),
        },
        "p_value": _num(c.p_value),
        "permutations": c.permutations,
        "edge": c.verdict.edge,
        "verdict": c.verdict.text,
    }


def card_lines(cards: list[SetCard], summaries: list[str]) -> list[str]:
    """The text block ``onetap cards`` prints for the intraday sets."""
    lines = ["", "FX and crypto (intraday sets; Sharpe annualised by each calendar and bar size)"]
    lines += [f"  data: {s}" for s in summaries]
    lines.append(
        f"  {'set':<14}{'template':<16}{'now':>4}{'trades':>7}{'win':>5}{'mean':>8}"
        f"{'Sharpe':>8}{'B&H':>7}{'OOS':>7}{'B&H oos':>8}{'p':>7}  verdict"
    )
    for c in cards:

        def f(x: float, spec: str) -> str:
            return format(x, spec) if math.isfinite(x) else "n/a"

        lines.append(
            f"  {c.set_name:<14}{c.template:<16}{'yes' if c.entry_now else '-':>4}{c.record.n:>7}"
            f"{f(c.record.win_rate, '.0%'):>5}{f(c.record.mean, '+.2%'):>8}"
            f"{f(c.backtest.sharpe, '+.2f'):>8}{f(c.buy_hold.sharpe, '+.2f'):>7}"
            f"{f(c.oos.sharpe, '+.2f'):>7}{f(c.oos_buy_hold.sharpe, '+.2f'):>8}"
            f"{f(c.p_value, '.3f'):>7}  {c.verdict.text}"
        )
    return lines


def intraday_report(
    settings: Settings, permutations: int = DEFAULT_PERMUTATIONS
) -> tuple[list[dict[str, object]], list[str]]:
    """(JSON rows, text lines) for ``[data] intraday``; both empty when it is not set."""
    path = sets_path(settings)
    if path is None:
        return [], []
    sets = load_sets(path)
    cards = set_cards(sets, permutations=permutations, seed=settings.replay.seed)
    return [card_row(c) for c in cards], card_lines(cards, [s.series.summary() for s in sets])
