"""A template's own target weights for the autopilot: ``[autopilot] method = "rotation"`` or
``"template:NAME"``.

The autopilot trades the weights the research backtest holds, not a second implementation of the
strategy: on session ``day`` (at the run time, 15:55 New York, before the day's close is known) the
targets are row ``day`` of ``run_template(template, panel, params, TEMPLATE_CONFIG).weights``,
where the panel is every bar strictly before ``day`` plus a placeholder bar for ``day`` (the
previous close repeated, volume kept). The placeholder cannot change that row: in the backtest a
bar's weights are decided at the previous close (positions lag signals by one bar) and a template
at bar t reads bars up to t only, so the row equals the one a backtest over the whole history gives
for ``day`` (``tests/engine/test_autopilot_rotation.py`` checks it session by session).

``TEMPLATE_CONFIG`` is the backtest the autopilot is: fills at the close (the run trades at 15:55,
in the closing minutes, and closes-only data such as the shipped factor ETFs has no other price),
and one slot (the template is the whole book, not one idea among five).

Two rules keep live and research identical, and both are stated where they apply:

* the history must start on the same session in both (EMAs and the like depend on their start):
  the autopilot reads the feed's whole history, as ``onetap backtest`` reads the whole file;
* the template's decisions at a bar must not depend on where the history ends. The rotation's
  ``rebalance_days`` counts its rebalance sessions back from the as-of session (so a card always
  shows today's basket): with ``rebalance_days = 1`` (the seed's daily rotation, the shipped
  ``[strategies.rotation]`` setting for the ETF universe) every session is a decision and the
  targets are the backtest's; with more, :func:`notes` warns that they can differ.

The autopilot is long only: a template whose targets go short (pairs) is refused at the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from engine.research.backtest import BacktestConfig, run_template
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars

TEMPLATE_CONFIG = BacktestConfig(fill="close", slots=1)
"""The backtest whose weights the autopilot trades: fills at the close, the template alone."""

MIN_WEIGHT = 1e-9
"""Weights below this are no position (rounding of a capped inverse-volatility basket)."""


def _with_placeholder(symbol: str, bars: pd.DataFrame, day: date) -> Bars:
    """``symbol``'s bars before ``day`` and a flat bar on ``day`` at the last close."""
    last = bars.iloc[-1]
    close = float(last["close"])
    extra = pd.DataFrame(
        {
            "open": [close],
            "high": [close],
            "low": [close],
            "close": [close],
            "volume": [float(last["volume"])],
        },
        index=pd.DatetimeIndex([pd.Timestamp(day)]),
    )
    frame = pd.concat([bars[["open", "high", "low", "close", "volume"]], extra])
    return Bars.from_frame(symbol, frame)


def template_weights(
    template: str, history: Mapping[str, pd.DataFrame], day: date, params: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The weights the research backtest of ``template`` holds on ``day`` (see the module docstring).

    ``history`` holds each symbol's bars strictly before ``day``. Raises ``ValueError`` naming the
    template when there is no history, or when its targets go short (the autopilot is long only).
    """
    tpl = TEMPLATES[template]
    frames = {s: f for s, f in history.items() if len(f)}
    if not frames:
        raise ValueError(f"{template}: no history before {day.isoformat()} for its targets")
    late = [s for s, f in frames.items() if f.index[-1].date() >= day]
    if late:
        raise ValueError(f"{template}: history of {', '.join(late)} reaches {day.isoformat()} (look-ahead)")
    panel = {s: _with_placeholder(s, f, day) for s, f in frames.items()}
    bt = run_template(tpl, panel, tpl.params(params), TEMPLATE_CONFIG)
    row = bt.weights[-1]
    if np.any(row < -MIN_WEIGHT):
        shorts = [s for s, w in zip(bt.symbols, row, strict=True) if w < -MIN_WEIGHT]
        raise ValueError(
            f"{template}: its targets go short ({', '.join(shorts)}); the autopilot is long only"
        )
    return {s: float(w) for s, w in zip(bt.symbols, row, strict=True) if w > MIN_WEIGHT}


def notes(template: str, params: Mapping[str, float]) -> tuple[str, ...]:
    """What the operator should know about a template on the autopilot (shown at start)."""
    out = [
        f"targets are the {template} template's own weights (its research backtest, fills at the close); "
        "[autopilot] max_weight, sector_cap and cash_buffer do not apply, [risk] limits still do"
    ]
    if template == "rotation" and float(TEMPLATES[template].params(params)["rebalance_days"]) != 1.0:
        out.append(
            "rotation's rebalance_days is not 1: it counts its rebalance sessions back from each day, so "
            "the live basket can differ from a backtest's; set [strategies.rotation] parameters = "
            "{ rebalance_days = 1 } for the daily rotation"
        )
    return tuple(out)
