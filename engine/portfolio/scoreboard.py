"""The template scoreboard: realized hit rate, return and cost beside what the cards forecast,
and the drift tests that say when live results no longer match the backtest's expectation.

Per template, over its CLOSED outcomes (void and pending trades are counted, never scored):

- hit rate with Wilson's 95% interval, beside the mean confidence the cards showed;
- mean realized return (before commissions, the template's outcome measure) with a Student-t
  95% interval, beside the mean expected return;
- mean realized entry cost in bps of capital with a t interval, beside the mean expected cost
  (the same scope: executing the card's legs), and the realized round trip;
- trades that lost more than their card's max risk.

**The drift tests** (both two-sided, at ``ALPHA`` = 1%, only from ``MIN_TRADES`` = 20 closed
trades of the template on; below that they are not run, as a handful of trades says nothing):

1. *Hits.* Under the forecast, trade i wins with probability p_i (its card's confidence),
   independently, so the number of wins is Poisson-binomial with mean sum(p_i) and variance
   sum(p_i (1 - p_i)). z = sum(y_i - p_i) / sqrt(sum(p_i (1 - p_i))), compared with the normal
   (the Lyapunov CLT: the p_i are bounded away from 0 and 1, so 20 trades are enough for the
   tail at 1%). Negative z: the template wins less often than its cards said.
2. *Returns.* d_i = realized return - expected return of trade i; t = mean(d) / (sd(d) / sqrt(n)),
   Student's t with n - 1 degrees of freedom. Negative t: it earns less than its cards said.

The template drifts when either test is significant. Testing after every closed trade is a
sequential test, so the nominal 1% understates the chance of a false alarm over a long run; the
alert is raised once per crossing (``drift_crossings``), and the operator reads the scoreboard's
numbers, not the p-value alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from statistics import NormalDist

from engine.model.forecast import DriftTest, ForecastOutcome, OutcomeStatus, Scoreboard, TemplateScore

MIN_TRADES = 20
"""Closed trades of a template before its drift tests are run."""
ALPHA = 0.01
"""Two-sided significance level of each drift test."""
CONFIDENCE = 0.95
"""Level of the scoreboard's intervals."""
BPS = 10_000.0

_NORMAL = NormalDist()


# --------------------------------------------------------------------------- intervals
def wilson(hits: int, n: int, level: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if n <= 0:
        raise ValueError("a hit rate needs at least one trade")
    z = _NORMAL.inv_cdf(0.5 + level / 2.0)
    p = hits / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: Sequence[float], level: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student's t interval of the mean; None below two values (no spread to measure)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = _sd(values, mean)
    half = _t_ppf(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


# --------------------------------------------------------------------------- the tests
def hit_test(hits: Sequence[bool], probabilities: Sequence[float], alpha: float = ALPHA) -> DriftTest:
    """The Poisson-binomial z-test of realized wins against the forecast probabilities."""
    if len(hits) != len(probabilities) or not hits:
        raise ValueError("the hit test needs one probability per trade, and at least one trade")
    for p in probabilities:
        if not 0.0 <= p <= 1.0 or not math.isfinite(p):
            raise ValueError(f"a forecast probability must be in [0, 1], got {p!r}")
    surprise = sum((1.0 if y else 0.0) - p for y, p in zip(hits, probabilities, strict=True))
    variance = sum(p * (1.0 - p) for p in probabilities)
    if variance <= 0.0:  # every forecast was certain: any miss is infinitely surprising
        z = 0.0 if abs(surprise) < 1e-12 else math.copysign(math.inf, surprise)
    else:
        z = surprise / math.sqrt(variance)
    p_value = 2.0 * _NORMAL.cdf(-abs(z)) if math.isfinite(z) else 0.0
    return DriftTest("hits", z, p_value, p_value < alpha)


def return_test(realized: Sequence[float], expected: Sequence[float], alpha: float = ALPHA) -> DriftTest:
    """The one-sample t-test of realized minus expected return (two-sided)."""
    if len(realized) != len(expected) or len(realized) < 2:
        raise ValueError("the return test needs one expectation per trade, and at least two trades")
    diffs = [r - e for r, e in zip(realized, expected, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = _sd(diffs, mean)
    if sd <= 0.0:
        t = 0.0 if abs(mean) < 1e-15 else math.copysign(math.inf, mean)
    else:
        t = mean / (sd / math.sqrt(n))
    p_value = 2.0 * _t_sf(abs(t), n - 1) if math.isfinite(t) else 0.0
    return DriftTest("returns", t, p_value, p_value < alpha)


# --------------------------------------------------------------------------- the board
def template_score(
    template: str,
    outcomes: Iterable[ForecastOutcome],
    *,
    open_trades: int = 0,
    min_trades: int = MIN_TRADES,
    alpha: float = ALPHA,
) -> TemplateScore:
    """One template's row from its outcomes (closed ones are scored, void ones counted)."""
    every = list(outcomes)
    closed = [o for o in every if o.status is OutcomeStatus.CLOSED and o.capital > 0]
    void = sum(1 for o in every if o.status is OutcomeStatus.VOID)
    n = len(closed)
    if n == 0:
        return TemplateScore(
            template, 0, open_trades, void, 0, None, None, None, None, None, None, None, None,
            None, None, None, None, None, 0, 0.0,
        )  # fmt: skip
    hits = sum(1 for o in closed if o.hit)
    low, high = wilson(hits, n)
    returns = [o.realized_return for o in closed]
    costs = [o.entry_cost / o.capital * BPS for o in closed]
    r_int = t_interval(returns)
    c_int = t_interval(costs)
    tested = n >= min_trades
    return TemplateScore(
        template=template,
        n=n,
        open=open_trades,
        void=void,
        hits=hits,
        hit_rate=hits / n,
        hit_low=low,
        hit_high=high,
        mean_confidence=_mean(o.confidence for o in closed),
        mean_return=_mean(returns),
        return_low=None if r_int is None else r_int[0],
        return_high=None if r_int is None else r_int[1],
        mean_expected_return=_mean(o.expected_return for o in closed),
        cost_bps=_mean(costs),
        cost_low=None if c_int is None else c_int[0],
        cost_high=None if c_int is None else c_int[1],
        expected_cost_bps=_mean(o.expected_cost / o.capital * BPS for o in closed),
        round_trip_bps=_mean(o.realized_cost / o.capital * BPS for o in closed),
        breaches=sum(1 for o in closed if o.breached),
        pnl=sum(o.gross_pnl - o.commission for o in closed),
        hit_test=hit_test([o.hit for o in closed], [o.confidence for o in closed], alpha) if tested else None,
        return_test=return_test(returns, [o.expected_return for o in closed], alpha) if tested else None,
    )


def scoreboard(
    outcomes: Iterable[ForecastOutcome],
    *,
    asof: datetime,
    since: datetime | None = None,
    open_trades: Mapping[str, int] | None = None,
    min_trades: int = MIN_TRADES,
    alpha: float = ALPHA,
) -> Scoreboard:
    """Every template's row, by template name, over outcomes closed at or after ``since``."""
    by_template: dict[str, list[ForecastOutcome]] = {}
    for o in outcomes:
        if since is None or o.closed_at >= since:
            by_template.setdefault(o.template, []).append(o)
    pending = dict(open_trades or {})
    names = sorted(set(by_template) | {t for t, k in pending.items() if k > 0})
    rows = tuple(
        template_score(
            name,
            by_template.get(name, []),
            open_trades=pending.get(name, 0),
            min_trades=min_trades,
            alpha=alpha,
        )
        for name in names
    )
    notes = (
        f"drift: two-sided tests at {alpha:.0%} from {min_trades} closed trades: hits by the "
        "Poisson-binomial z on sum(win - confidence), returns by the t-test on realized - expected",
        "return: before commissions (the template's outcome rule: a win is a positive return); "
        "cost: entry commission + shortfall vs arrival, in bps of capital",
    )
    return Scoreboard(asof=asof, since=since, rows=rows, min_trades=min_trades, alpha=alpha, notes=notes)


def drift_crossings(
    rows: Iterable[TemplateScore], drifting_before: Iterable[str]
) -> tuple[list[TemplateScore], set[str]]:
    """The rows that crossed into drift since ``drifting_before``, and the templates drifting now.

    A template alerts once when it crosses; it must come back within the forecast (both tests
    not significant) before it can alert again, so a standing drift is not re-announced on
    every trade (nor at every restart: the caller keeps the set).
    """
    before = set(drifting_before)
    now = {row.template for row in rows if row.drifting}
    # a template with no row this time (no trade in the window) keeps its state
    kept = {t for t in before if t not in {row.template for row in rows}}
    crossed = [row for row in rows if row.drifting and row.template not in before]
    return crossed, now | kept


# --------------------------------------------------------------------------- helpers
def _mean(values: Iterable[float]) -> float | None:
    xs = list(values)
    return sum(xs) / len(xs) if xs else None


def _sd(values: Sequence[float], mean: float) -> float:
    n = len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0


def _t_ppf(q: float, df: int) -> float:
    from scipy import stats  # lazy: scipy.stats is not on the engine's start-up path

    return float(stats.t.ppf(q, df))


def _t_sf(x: float, df: int) -> float:
    from scipy import stats

    return float(stats.t.sf(x, df))
