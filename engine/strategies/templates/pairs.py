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
from numpy.typing import NDArray

from engine.model.exits import StopRule
from engine.signals.indicators import rolling_beta, zscore
from engine.strategies.templates.base import (
    NO_PROTECTION,
    Aligned,
    Array,
    Panel,
    Params,
    Setup,
    Template,
    align,
)

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
    want = int(p["max_pairs"])
    ranked = _screened_pairs(rets, want) if len(same) >= SCREEN_FROM else _all_pairs(rets, want)
    return [(same[i], same[j]) for i, j, rho in ranked if rho >= p["min_corr"]]


SCREEN_FROM = 1_000
"""From this many symbols the pairs are screened in float32 blocks (``_screened_pairs``) instead of
one float64 correlation matrix: 5,000 symbols' is 200 MB, and its sort several times that."""

SCREEN_BLOCK = 512
SCREEN_MARGIN = 1e-3
"""Pairs whose float32 correlation is within this of the ``want``-th best are ranked again in
float64 (float32 error over a year of normalised returns is ~1e-5), so the screen drops none."""


def _all_pairs(rets: Array, want: int) -> list[tuple[int, int, float]]:
    """The ``want`` most correlated column pairs ``(i, j, rho)``, ``i < j``, best first, from one
    correlation matrix (NaN correlations count as -1)."""
    n = rets.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(rets, rowvar=False)
    upper = np.nan_to_num(np.atleast_2d(rho), nan=-1.0, copy=False)
    upper[np.tri(n, dtype=np.bool_)] = -np.inf  # each pair once, never a symbol with itself
    if want < upper.size:
        top = np.argpartition(upper, upper.size - want, axis=None)[upper.size - want :]
        flat = top[np.argsort(upper.ravel()[top], kind="stable")[::-1]]
    else:
        flat = np.argsort(upper, axis=None)[::-1][:want]
    out = []
    for idx in flat.tolist():
        i, j = divmod(idx, n)
        out.append((i, j, float(upper[i, j])))
    return out


def _screened_pairs(rets: Array, want: int) -> list[tuple[int, int, float]]:
    """``_all_pairs`` for a large universe: correlations of blocks of columns against all in float32
    (a matrix product of normalised returns), keeping the pairs near the best ``want``; those are
    ranked on their float64 correlation. Memory: one ``[SCREEN_BLOCK, n]`` block at a time."""
    n = rets.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = rets - rets.mean(axis=0)
        norm = np.sqrt(np.einsum("ij,ij->j", centred, centred))
        unit = centred / norm
    z = np.nan_to_num(unit, nan=0.0).astype(np.float32)  # a NaN column screens as uncorrelated
    pool_i: list[NDArray[np.int64]] = []
    pool_j: list[NDArray[np.int64]] = []
    pool_v: list[NDArray[np.float32]] = []
    floor = -np.inf
    cols = np.arange(n)
    for a in range(0, n, SCREEN_BLOCK):
        b = min(a + SCREEN_BLOCK, n)
        block = z[:, a:b].T @ z  # [b - a, n]
        block[cols[None, :] <= np.arange(a, b)[:, None]] = np.nan  # j > i only (NaN passes no test)
        rows, js = np.nonzero(block >= floor)
        vals = block[rows, js]
        if len(vals) > want:
            keep = vals >= np.partition(vals, len(vals) - want)[len(vals) - want] - SCREEN_MARGIN
            rows, js, vals = rows[keep], js[keep], vals[keep]
        pool_i.append(rows + a)
        pool_j.append(js)
        pool_v.append(vals)
        v = np.concatenate(pool_v)
        if len(v) > want:
            floor = float(np.partition(v, len(v) - want)[len(v) - want]) - SCREEN_MARGIN
            keep = v >= floor
            pool_i, pool_j, pool_v = [np.concatenate(pool_i)[keep]], [np.concatenate(pool_j)[keep]], [v[keep]]
    i, j = np.concatenate(pool_i), np.concatenate(pool_j)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = np.clip(np.einsum("ti,ti->i", centred[:, i], centred[:, j]) / (norm[i] * norm[j]), -1.0, 1.0)
    exact = np.nan_to_num(exact, nan=-1.0)
    order = np.lexsort((j, i, -exact))[:want]
    return [(int(i[k]), int(j[k]), float(exact[k])) for k in order.tolist()]


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
