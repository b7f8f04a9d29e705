"""Asset rotation: hold the strongest uptrends that do not move together, weighted by calm.

Score per symbol: ((close / EMA20) - 1) / ATR%, where ATR% = ATR(14) / close: how far price
runs above its short average, in units of its own daily range. Filter: an uptrend, EMA20 above
EMA50. Selection: walk the symbols from the best score down and take each one whose 90-day
correlation of daily returns with every symbol already taken is at most ``max_corr`` (0.7),
up to ``top_n``. Weights: inverse 20-day volatility, each capped at ``cap`` (50%), scaled to
leave a ``cash_buffer`` (5%). Rebalanced every ``rebalance_days`` (21) sessions, counted back
from the as-of session; the card is the basket to hold until the next rebalance. Stop: the
basket down ``stop_pct`` (8%). Horizon: ``rebalance_days``. Exit policy: no resting stop or
target (a basket has no one price to rest a stop at: its stop is checked on closes and acted on
at the next open); out at the open after the horizon, where the next rebalance trades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.signals import segmented as seg
from engine.strategies.templates.base import Aligned, Array, Panel, Params, Setup, Template, align

NAME = "rotation"
CORR_DAYS = 90


def capped_inverse_vol(vols: Array, cap: float, invested: float) -> Array:
    """Inverse-volatility weights summing to ``invested``, none above ``cap`` x ``invested``.

    Capping redistributes the excess over the uncapped names in proportion (water filling);
    when every name is capped the basket holds less than ``invested`` (the rest stays cash).
    """
    raw = 1.0 / vols
    w = raw / raw.sum()
    capped = np.zeros(len(w), dtype=np.bool_)
    for _ in range(len(w)):
        over = (w > cap + 1e-12) & ~capped
        if not over.any():
            break
        capped |= over
        w[capped] = cap
        free = ~capped
        room = 1.0 - cap * capped.sum()
        if not free.any() or room <= 0:
            break
        w[free] = raw[free] / raw[free].sum() * room
    out: Array = w * invested
    return out


CORR_GUARD = 1e-9
"""How near ``max_corr`` the quick correlation (``_corr``) may fall before ``np.corrcoef`` decides:
the two differ by rounding only (about 1e-15), so beyond this band they give the same verdict."""


@numba.njit(cache=True, nogil=True)
def _corr(a: Array, b: Array) -> float:
    """Pearson correlation of two equal-length series (two passes), without ``np.corrcoef``'s
    Python and temporaries: the rotation's greedy pick asks it hundreds of times a scan."""
    n = a.shape[0]
    ma = 0.0
    mb = 0.0
    for i in range(n):
        ma += a[i]
        mb += b[i]
    ma /= n
    mb /= n
    sab = 0.0
    saa = 0.0
    sbb = 0.0
    for i in range(n):
        da, db = a[i] - ma, b[i] - mb
        sab += da * db
        saa += da * da
        sbb += db * db
    return sab / math.sqrt(saa * sbb)


def _too_correlated(a: Array, b: Array, max_corr: float, ca: Array, cb: Array) -> bool:
    """``np.corrcoef(a, b)[0, 1] > max_corr``, asked of ``_corr`` first (on ``ca``/``cb``, the same
    values contiguous): only a value within ``CORR_GUARD`` of the threshold (or not finite) is left
    to ``np.corrcoef``, so the verdict is ``np.corrcoef``'s whichever way it is reached."""
    quick = _corr(ca, cb)
    if math.isfinite(quick) and abs(quick - max_corr) > CORR_GUARD:
        return quick > max_corr
    return bool(np.corrcoef(a, b)[0, 1] > max_corr)


def pick(order: Sequence[int], rets: Array, max_corr: float, top_n: int) -> list[int]:
    """Greedy selection down ``order``: skip a name too correlated with one already taken."""
    taken: list[int] = []
    cols = np.ascontiguousarray(rets.T)  # each name's returns contiguous (``_corr``)
    for i in order:
        if len(taken) >= top_n:
            break
        ok = True
        for j in taken:
            a, b = rets[:, i], rets[:, j]
            if np.std(a) == 0 or np.std(b) == 0 or _too_correlated(a, b, max_corr, cols[i], cols[j]):
                ok = False
                break
        if ok:
            taken.append(i)
    return taken


def rotation_setup(data: Aligned, p: Params) -> Setup:
    close = data.close
    n_bars, k = close.shape
    # every column at once: the columns end to end, one segment each (engine.signals.segmented)
    starts = np.arange(k + 1, dtype=np.int64) * n_bars
    c = np.ascontiguousarray(close.T).reshape(-1)
    # each [k * T] intermediate is let go as soon as it is used: a 5,000-symbol universe's are
    # 100 MB each, and all of them alive at once set the scan's peak memory
    high, low = (np.ascontiguousarray(m.T).reshape(-1) for m in (data.high, data.low))
    atr_pct = seg.atr(high, low, c, starts, 14) / c
    del high, low
    e20 = seg.ema(c, starts, 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = ((c / e20 - 1.0) / atr_pct).reshape(k, n_bars).T
        del atr_pct
        uptrend = (e20 > seg.ema(c, starts, 50)).reshape(k, n_bars).T
    del e20
    vol20 = seg.rolling_volatility(c, starts, 20).reshape(k, n_bars).T
    del c
    rets = np.full(close.shape, np.nan)
    rets[1:] = close[1:] / close[:-1] - 1.0
    step = int(p["rebalance_days"])
    weights = np.zeros((n_bars, k))
    entry = np.zeros(n_bars, dtype=np.bool_)
    best = np.full(n_bars, np.nan)
    chosen: dict[int, list[int]] = {}
    for t in range(n_bars - 1, CORR_DAYS, -step):
        ok = uptrend[t] & np.isfinite(score[t]) & np.isfinite(vol20[t]) & (vol20[t] > 0)
        if not ok.any():
            continue
        ranked = np.argsort(-np.nan_to_num(score[t], nan=-np.inf))
        order = ranked[ok[ranked]].tolist()  # the ranking's eligible names, in its order
        taken = pick(order, rets[t - CORR_DAYS + 1 : t + 1], p["max_corr"], int(p["top_n"]))
        weights[t, taken] = capped_inverse_vol(vol20[t, taken], p["cap"], 1.0 - p["cash_buffer"])
        entry[t] = True
        best[t] = float(np.mean(score[t, taken]))
        chosen[t] = taken
    stop = np.full(n_bars, p["stop_pct"])
    symbols = data.symbols

    picked = {t: ", ".join(f"{symbols[i]} {weights[t, i]:.0%}" for i in taken) for t, taken in chosen.items()}

    def reason(t: int) -> str:  # reads the picks only: a candidate keeps no [T, k] matrix alive
        names = picked.get(t, "")
        return f"top uptrends by (close/EMA20-1)/ATR%, 90d corr <= {p['max_corr']:.1f}: {names}"

    return Setup(
        template=NAME,
        key="basket",
        symbols=symbols,
        dates=data.dates,
        open=data.open,
        close=close,
        entry=entry,
        exit=np.zeros(n_bars, dtype=np.bool_),
        score=np.nan_to_num(best, nan=0.0),
        weights=weights,
        stop=stop,
        target=np.full(n_bars, np.inf),
        components={"mean_score": best},
        reason=reason,
        high=data.high,
        low=data.low,
    )


def build(panel: Panel, p: Params) -> list[Setup]:
    symbols = sorted(panel)
    if len(symbols) < 2:
        return []
    return [rotation_setup(align(panel, symbols), p)]


ROTATION = Template(
    name=NAME,
    title="Asset rotation",
    rules=__doc__ or "",
    horizon_days=21,
    signals_required=("ema20", "ema50", "atr14", "volatility20", "correlation90"),
    min_history=150,
    defaults={
        "top_n": 3.0,
        "max_corr": 0.7,
        "cap": 0.5,
        "cash_buffer": 0.05,
        "rebalance_days": 21.0,
        "stop_pct": 0.08,
    },
    build=build,
    exit_policy=ExitPolicy(StopRule.NONE, 0.0, None, TimeExit.NEXT_OPEN),
    stop_rules=frozenset({StopRule.NONE}),
)
