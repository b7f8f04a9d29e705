"""Pairs / statistical arbitrage: trade the spread of two stocks that move together.

Candidates: pairs of the universe whose daily returns correlated at least ``min_corr`` over
the last year, the ``max_pairs`` most correlated. Spread: log(y) - beta x log(x), with beta the
rolling 120-day regression slope of log(y) on log(x); z = the spread's 60-day z-score. Entry:
|z| above ``entry_z``: short the rich leg and buy the cheap one, gross capital split 1 : beta.
Only a positive hedge ratio makes a spread (a negative one would buy or sell both legs). Exit: |z|
back under ``exit_z``. Stop: the pair down ``stop_pct`` of its gross capital.
Horizon: 20 sessions. Exit policy: no resting stop or target (two legs have no one price to
rest a stop at: the pair's stop is checked on closes and acted on at the next open, like the
exit rule); out at the horizon's last close. Gate: the card is proposed only if the
Engle-Granger test on the last ``coint_days`` sessions rejects "no cointegration" at
``max_pvalue`` (history's entries are not gated by a test run at their own date, so the track
record is, if anything, pessimistic).
"""

from __future__ import annotations

import math

import numpy as np

from engine.model.exits import StopRule
from engine.signals.indicators import rolling_beta, zscore
from engine.strategies.templates.base import NO_PROTECTION, Aligned, Panel, Params, Setup, Template, align

NAME = "pairs"


def candidate_pairs(panel: Panel, p: Params) -> list[tuple[str, str]]:
    """The most correlated pairs over the last year, best first (one correlation matrix, not a
    loop over every pair: a 500-symbol universe has 124,750 of them)."""
    year = 253
    eligible = sorted(s for s, b in panel.items() if len(b) >= 300)
    if len(eligible) < 2:
        return []
    last = max(panel[s].dates[-1] for s in eligible)
    eligible = [s for s in eligible if panel[s].dates[-1] == last]
    days = panel[eligible[0]].dates[-year:]
    same = [s for s in eligible if np.array_equal(panel[s].dates[-year:], days)]
    if len(same) < 2:
        return []
    closes = np.column_stack([panel[s].close[-year:] for s in same])
    rets = closes[1:] / closes[:-1] - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(rets, rowvar=False)
    upper = np.nan_to_num(np.atleast_2d(rho), nan=-1.0, copy=False)
    upper[np.tri(len(same), dtype=np.bool_)] = -np.inf  # each pair once, never a symbol with itself
    want = int(p["max_pairs"])
    if want < upper.size:  # the best few of a 5,000-symbol universe's 12.5 M pairs, without a full sort
        top = np.argpartition(upper, upper.size - want, axis=None)[upper.size - want :]
        flat = top[np.argsort(upper.ravel()[top], kind="stable")[::-1]]
    else:
        flat = np.argsort(upper, axis=None)[::-1][:want]
    out = []
    for idx in flat:
        i, j = np.unravel_index(idx, upper.shape)
        if upper[i, j] >= p["min_corr"]:
            out.append((same[i], same[j]))
    return out


def pair_setup(data: Aligned, p: Params) -> Setup:
    ly, lx = np.log(data.close[:, 0]), np.log(data.close[:, 1])
    beta = rolling_beta(ly, lx, 120)
    spread = ly - beta * lx
    z = zscore(spread, 60)
    n_bars = len(z)
    with np.errstate(invalid="ignore"):
        entry = np.abs(z) > p["entry_z"]
        exit_rule = np.abs(z) < p["exit_z"]
    direction = -np.sign(np.nan_to_num(z))  # z > 0: y rich -> short y, long x
    b = np.nan_to_num(beta)
    gross = 1.0 + np.abs(b)
    weights = np.column_stack([direction / gross, -direction * b / gross])
    y_sym, x_sym = data.symbols
    gate = {"pvalue": math.nan, "half_life": math.nan}
    untested = ""
    if entry[-1]:
        from engine.strategies.cointegration import engle_granger

        window = int(p["coint_days"])
        try:
            test = engle_granger(ly[-window:], lx[-window:])
            gate = {"pvalue": test.p_value, "half_life": test.half_life}
        except ValueError as exc:  # too short or flat: untestable, so not proposed (said in the reason)
            untested = str(exc)
        if not gate["pvalue"] <= p["max_pvalue"]:
            entry = entry.copy()
            entry[-1] = False
    components = {"spread_z": np.abs(z)}
    score = np.abs(np.nan_to_num(z))

    def reason(t: int) -> str:
        rich, cheap = (y_sym, x_sym) if z[t] > 0 else (x_sym, y_sym)
        text = f"spread z {z[t]:+.2f}: short {rich}, buy {cheap} (beta {beta[t]:.2f})"
        if t == n_bars - 1 and math.isfinite(gate["pvalue"]):
            text += f", cointegration p {gate['pvalue']:.3f}, half-life {gate['half_life']:.0f}d"
        elif t == n_bars - 1 and untested:
            text += f", cointegration untestable: {untested}"
        return text

    return Setup(
        template=NAME,
        key=f"{y_sym}/{x_sym}",
        symbols=data.symbols,
        dates=data.dates,
        open=data.open,
        close=data.close,
        entry=entry & np.isfinite(z) & (beta > 0),  # a negative hedge ratio is not a spread
        exit=exit_rule,
        score=score,
        weights=weights,
        stop=np.full(n_bars, p["stop_pct"]),
        target=np.full(n_bars, np.inf),
        components=components,
        reason=reason,
        high=data.high,
        low=data.low,
    )


def build(panel: Panel, p: Params) -> list[Setup]:
    return [pair_setup(align(panel, pair), p) for pair in candidate_pairs(panel, p)]


PAIRS = Template(
    name=NAME,
    title="Pairs",
    rules=__doc__ or "",
    horizon_days=20,
    signals_required=("beta120", "zscore60", "correlation252", "cointegration"),
    min_history=300,
    defaults={
        "min_corr": 0.5,
        "max_pairs": 20.0,
        "entry_z": 2.0,
        "exit_z": 0.5,
        "stop_pct": 0.06,
        "coint_days": 252.0,
        "max_pvalue": 0.10,
    },
    build=build,
    exit_policy=NO_PROTECTION,
    stop_rules=frozenset({StopRule.NONE}),
)
