"""When to rebalance toward target weights, and the orders that do it at a cost worth paying.

**Triggers** (``should_rebalance``), checked in this order, the first that fires is the reason:

* *schedule*: ``daily``, ``weekly`` or ``monthly``. A period's rebalance happens on the first
  session of the period on which the decision is taken and none has happened yet in it: weekly is
  the first session of the ISO week (Monday, or Tuesday after a Monday holiday), monthly the first
  session of the month. First rather than last because a missed first day (engine down, data
  held) is then caught up by the next session of the same period, where a "last session" rule
  that misses its day would skip the whole period. ``off`` leaves only the other triggers.
* *drift*: some symbol's weight is off its target by more than ``drift_abs`` weight points
  (0.05 is five points: 25% against a 30% target) or by more than ``drift_rel`` of its target
  (0.25: 22.5% or 37.5% against 30%). Strictly more: a drift exactly at a threshold (to within a
  rounding error of 1e-9) does not fire, so a threshold means "tolerated up to here".
* *risk*: the portfolio's ex-ante volatility, ``sqrt(w' S w * 252)`` with ``S`` the sample
  covariance of the last ``vol_window`` daily returns and ``w`` the current weights, lies outside
  ``vol_target +- vol_band`` (annualised fractions). Off unless ``vol_target`` is set.

**Plans** (``plan_rebalance``): orders net of the positions held, to the target weight of equity
at the given prices. Symbols held but not in the targets are sold to zero, or left alone when
``sell_unlisted`` is False. Whole shares round every trade toward holding less than the target
(buys down, partial sells up), which never spends cash that is not there; a sell to zero sells
exactly what is held. A trade is skipped when it is worth less than ``min_trade_value`` or when
its expected cost exceeds its benefit (see ``CostBenefit``). Buys are scaled to the cash there
will be after the sells and their costs, less ``cash_buffer`` of it (for the move to the fill):
no leverage, ever.

Everything here is a pure function of its arguments: no clock, no calendar, no engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import numpy as np

from engine.model import CommissionSchedule, Side
from engine.model.commission import DEFAULT_SPREAD_BPS
from engine.model.rebalance import (
    LineAction,
    RebalanceLine,
    RebalanceOrder,
    RebalancePlan,
    RebalanceTrigger,
    SkippedTrade,
    TriggerKind,
)

TRADING_DAYS = 252
"""Sessions in a year: annualises volatility and turns a horizon in sessions into years."""
DEFAULT_CASH_BUFFER = 0.005
"""Share of the post-sell cash kept back from buys: the engine's ``REBALANCE_CASH_SHARE`` (0.995)."""
ROUNDING = 1e-9
"""Weights and quantities closer than this are equal: binary fractions are not decimal ones."""
MANUAL = RebalanceTrigger(TriggerKind.MANUAL, "requested directly")


class Frequency(StrEnum):
    """The schedule trigger's period."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class RebalanceCosts:
    """Expected cost of one order: commission (the paper broker's schedule) + half spread + impact.

    ``half_spread_bps`` defaults to half of ``DEFAULT_SPREAD_BPS`` (what crossing from the mid costs
    when only a price is known). ``impact_bps`` is flat: the square-root law of
    ``engine.execution.costs`` gives about 1 bp for an order of 0.0025% of a day's volume at 2%
    daily volatility, a retail-sized order in a liquid ETF; raise it for anything less liquid.
    """

    commission: CommissionSchedule
    """The schedule the broker charges (``CommissionSchedule.from_settings``: no default here)."""
    half_spread_bps: float = DEFAULT_SPREAD_BPS / 2.0
    impact_bps: float = 1.0

    def __post_init__(self) -> None:
        for name in ("half_spread_bps", "impact_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"rebalance costs: {name} must be a finite number >= 0, got {value!r}")

    def cost(self, quantity: float, price: float) -> float:
        """The expected cost in money of trading ``quantity`` shares at ``price`` (either side)."""
        if quantity <= 0:
            return 0.0
        value = quantity * price
        return (
            self.commission.commission(quantity, price)
            + value * (self.half_spread_bps + self.impact_bps) / 1e4
        )


@dataclass(frozen=True, slots=True)
class CostBenefit:
    """The benefit a trade is weighed against: its value times an assumed edge over a horizon.

    The assumption, stated plainly: being at the target weights earns ``edge`` per year more than
    the drifted weights, per unit of weight moved, and the book stays as traded for
    ``horizon_sessions`` (until the next rebalance). A trade worth ``V`` moves ``V / equity`` of
    weight, so its benefit is ``V * edge * horizon_sessions / 252`` money. With the defaults (2% a
    year, a month) that is 16.7 bps of the trade: a $5,000 trade (benefit $8.33) clears a $1
    commission and a few bps of spread; a $300 one (benefit $0.50) does not. A strategy with no
    edge to claim should set ``edge`` to 0, which skips every trade that costs anything: rebalance
    it with the drift band instead.
    """

    edge: float = 0.02
    horizon_sessions: int = 21

    def __post_init__(self) -> None:
        if not (math.isfinite(self.edge) and self.edge >= 0):
            raise ValueError(f"cost-benefit edge must be a finite number >= 0, got {self.edge!r}")
        if self.horizon_sessions < 1:
            raise ValueError(f"cost-benefit horizon must be at least 1 session, got {self.horizon_sessions}")

    def benefit(self, value: float) -> float:
        """The money a trade worth ``value`` is expected to earn by reaching the target."""
        return abs(value) * self.edge * self.horizon_sessions / TRADING_DAYS


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalanceSettings:
    """Triggers and planning rules of the rebalancer (the engine maps ``[rebalance]`` config onto it)."""

    frequency: Frequency = Frequency.MONTHLY
    drift_abs: float | None = 0.05
    """Weight points (0.05 = 5 points); None disables the absolute drift trigger."""
    drift_rel: float | None = 0.25
    """Fraction of the target weight; None disables the relative drift trigger."""
    vol_target: float | None = None
    """Annualised ex-ante volatility the book should have; None disables the risk trigger."""
    vol_band: float = 0.02
    """Half width of the tolerated band around ``vol_target`` (annualised: 0.02 = 2 points)."""
    vol_window: int = 63
    """Daily returns behind the covariance: a quarter."""
    min_trade_value: float = 100.0
    sell_unlisted: bool = True
    fractional: bool = False
    cash_buffer: float = DEFAULT_CASH_BUFFER
    costs: RebalanceCosts
    """Required: its commission schedule comes from ``[broker]`` (``CommissionSchedule.from_settings``)."""
    cost_benefit: CostBenefit | None = field(default_factory=CostBenefit)

    def __post_init__(self) -> None:
        for name in ("drift_abs", "drift_rel", "vol_target"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"rebalance: {name} must be a number > 0 or None, got {value!r}")
        if not (math.isfinite(self.vol_band) and self.vol_band >= 0):
            raise ValueError(f"rebalance: vol_band must be >= 0, got {self.vol_band!r}")
        if self.vol_window < 2:
            raise ValueError(f"rebalance: vol_window must be at least 2 returns, got {self.vol_window}")
        _check_plan_options(self.min_trade_value, self.cash_buffer)


# ---------------------------------------------------------------------------------------- triggers


def weights_of(
    positions: Mapping[str, float], prices: Mapping[str, float], equity: float
) -> dict[str, float]:
    """Each held symbol's market value over equity (a symbol held without a price raises)."""
    if not (math.isfinite(equity) and equity > 0):
        raise ValueError(f"equity must be a positive number, got {equity!r}")
    out: dict[str, float] = {}
    for symbol, quantity in positions.items():
        if quantity == 0:
            continue
        out[symbol] = quantity * _price(prices, symbol) / equity
    return out


def schedule_trigger(
    day: date, frequency: Frequency, last_rebalance_day: date | None
) -> RebalanceTrigger | None:
    """The schedule's reason to rebalance on ``day`` (a session), given the last day it rebalanced."""
    if frequency is Frequency.OFF:
        return None
    if last_rebalance_day is not None and last_rebalance_day >= day:
        return None
    if frequency is Frequency.DAILY:
        return RebalanceTrigger(TriggerKind.SCHEDULE, f"daily rebalance of {day.isoformat()}")
    if frequency is Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        if last_rebalance_day is not None and last_rebalance_day.isocalendar()[:2] == (year, week):
            return None
        return RebalanceTrigger(TriggerKind.SCHEDULE, f"weekly rebalance, first run of {year}-W{week:02d}")
    if last_rebalance_day is not None and (last_rebalance_day.year, last_rebalance_day.month) == (
        day.year,
        day.month,
    ):
        return None
    return RebalanceTrigger(TriggerKind.SCHEDULE, f"monthly rebalance, first run of {day:%Y-%m}")


def drift_trigger(
    current: Mapping[str, float],
    targets: Mapping[str, float],
    *,
    drift_abs: float | None,
    drift_rel: float | None,
    include_unlisted: bool = True,
) -> RebalanceTrigger | None:
    """The first symbol (alphabetically) whose drift exceeds a threshold, as the reason; else None.

    A symbol held but not in the targets has a target of 0 when ``include_unlisted`` (it will be
    sold), so only the absolute threshold can apply to it; it is ignored otherwise.
    """
    symbols = set(targets) | (set(current) if include_unlisted else set())
    for symbol in sorted(symbols):
        weight, target = current.get(symbol, 0.0), targets.get(symbol, 0.0)
        drift = abs(weight - target)
        if drift_abs is not None and drift > drift_abs + ROUNDING:
            return RebalanceTrigger(
                TriggerKind.DRIFT,
                f"{symbol} at {weight:.2%} against {target:.2%}: off by more than {drift_abs:.2%} points",
            )
        if drift_rel is not None and target > 0 and drift > drift_rel * target + ROUNDING:
            return RebalanceTrigger(
                TriggerKind.DRIFT,
                f"{symbol} at {weight:.2%} against {target:.2%}: "
                f"off by more than {drift_rel:.0%} of its target",
            )
    return None


def portfolio_volatility(
    weights: Mapping[str, float], returns: Mapping[str, Sequence[float]], window: int
) -> float:
    """Annualised ex-ante volatility of ``weights`` from the last ``window`` daily returns of each symbol.

    Every weighted symbol needs returns, all of one length (aligned on the same sessions), at
    least 2 of them: a covariance guessed from less is not a risk estimate.
    """
    symbols = sorted(s for s, w in weights.items() if w != 0)
    if not symbols:
        return 0.0
    missing = [s for s in symbols if s not in returns]
    if missing:
        raise ValueError(f"no returns for {', '.join(missing)}: the ex-ante volatility needs every holding")
    lengths = {len(returns[s]) for s in symbols}
    if len(lengths) != 1:
        raise ValueError("returns of the holdings have different lengths: align them on the same sessions")
    matrix = np.array([list(returns[s])[-window:] for s in symbols], dtype=np.float64)
    if matrix.shape[1] < 2 or not np.all(np.isfinite(matrix)):
        raise ValueError("the ex-ante volatility needs at least 2 finite returns per holding")
    cov = np.atleast_2d(np.cov(matrix, ddof=1))
    w = np.array([weights[s] for s in symbols], dtype=np.float64)
    return float(math.sqrt(max(float(w @ cov @ w), 0.0) * TRADING_DAYS))


def risk_trigger(
    current: Mapping[str, float],
    returns: Mapping[str, Sequence[float]],
    *,
    vol_target: float,
    vol_band: float,
    window: int,
) -> RebalanceTrigger | None:
    """The reason when the ex-ante volatility is outside ``vol_target +- vol_band``; else None."""
    vol = portfolio_volatility(current, returns, window)
    if abs(vol - vol_target) > vol_band + ROUNDING:
        return RebalanceTrigger(
            TriggerKind.RISK,
            f"ex-ante volatility {vol:.2%} outside {vol_target:.2%} +- {vol_band:.2%}",
        )
    return None


def should_rebalance(
    day: date,
    current: Mapping[str, float],
    targets: Mapping[str, float],
    settings: RebalanceSettings,
    *,
    last_rebalance_day: date | None,
    returns: Mapping[str, Sequence[float]] | None = None,
) -> RebalanceTrigger | None:
    """Why to rebalance on session ``day`` (schedule, then drift, then risk), or None to stay put.

    ``current`` and ``targets`` are weights of equity. The risk trigger is evaluated only when
    ``settings.vol_target`` is set and ``returns`` are given (None: the host has none to offer).
    """
    reason = schedule_trigger(day, settings.frequency, last_rebalance_day)
    if reason is None:
        reason = drift_trigger(
            current,
            targets,
            drift_abs=settings.drift_abs,
            drift_rel=settings.drift_rel,
            include_unlisted=settings.sell_unlisted,
        )
    if reason is None and settings.vol_target is not None and returns:
        reason = risk_trigger(
            current,
            returns,
            vol_target=settings.vol_target,
            vol_band=settings.vol_band,
            window=settings.vol_window,
        )
    return reason


# ------------------------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class _Trade:
    symbol: str
    side: Side
    quantity: float
    price: float
    cost: float

    @property
    def value(self) -> float:
        return self.quantity * self.price

    def order(self) -> RebalanceOrder:
        return RebalanceOrder(self.symbol, self.side, self.quantity, self.price, self.value, self.cost)


@dataclass(slots=True)
class _Draft:
    """The plan while it is being built: lines by symbol, the trades kept, the trades skipped."""

    lines: dict[str, RebalanceLine] = field(default_factory=dict)
    trades: list[_Trade] = field(default_factory=list)
    skipped: list[SkippedTrade] = field(default_factory=list)


def plan_rebalance(
    positions: Mapping[str, float],
    prices: Mapping[str, float],
    equity: float,
    cash: float,
    targets: Mapping[str, float],
    costs: RebalanceCosts,
    *,
    asof: datetime,
    trigger: RebalanceTrigger = MANUAL,
    min_trade_value: float = 0.0,
    cost_benefit: CostBenefit | None = None,
    sell_unlisted: bool = True,
    fractional: bool = False,
    cash_buffer: float = DEFAULT_CASH_BUFFER,
) -> RebalancePlan:
    """The orders that move ``positions`` (symbol -> quantity) to ``targets`` (symbol -> weight of equity).

    Targets are long-only weights summing to at most 1 (no leverage); every symbol held or
    targeted needs a positive price. Raises ``ValueError`` naming what is wrong otherwise.
    """
    _check_plan_options(min_trade_value, cash_buffer)
    _check_targets(targets)
    if not (math.isfinite(equity) and equity > 0):
        raise ValueError(f"equity must be a positive number, got {equity!r}")
    if not math.isfinite(cash):
        raise ValueError(f"cash must be a finite number, got {cash!r}")
    current = weights_of(positions, prices, equity)
    draft = _Draft()
    for symbol in sorted(set(targets) | set(current)):
        _plan_symbol(
            draft,
            symbol,
            positions.get(symbol, 0.0),
            prices,
            equity,
            targets,
            current,
            costs,
            min_trade_value,
            cost_benefit,
            sell_unlisted,
            fractional,
        )
    _fit_buys_to_cash(draft, cash, cash_buffer, costs, min_trade_value, cost_benefit, fractional)
    return _finish(draft, asof, trigger, equity, cash)


def _plan_symbol(
    draft: _Draft,
    symbol: str,
    held: float,
    prices: Mapping[str, float],
    equity: float,
    targets: Mapping[str, float],
    current: Mapping[str, float],
    costs: RebalanceCosts,
    min_trade_value: float,
    cost_benefit: CostBenefit | None,
    sell_unlisted: bool,
    fractional: bool,
) -> None:
    weight = current.get(symbol, 0.0)
    if symbol not in targets and not sell_unlisted:
        draft.lines[symbol] = RebalanceLine(
            symbol, weight, weight, 0.0, LineAction.HOLD, "not in the targets: left alone"
        )
        return
    target = targets.get(symbol, 0.0)
    price = _price(prices, symbol)
    side, quantity = _trade_quantity(held, target * equity / price, fractional)
    if quantity <= 0:
        draft.lines[symbol] = RebalanceLine(
            symbol, weight, target, weight - target, LineAction.HOLD, "at its target"
        )
        return
    trade = _Trade(symbol, side, quantity, price, costs.cost(quantity, price))
    _keep_or_skip(draft, trade, weight, target, min_trade_value, cost_benefit)


def _keep_or_skip(
    draft: _Draft,
    trade: _Trade,
    weight: float,
    target: float,
    min_trade_value: float,
    cost_benefit: CostBenefit | None,
    note: str = "",
) -> None:
    """Keep ``trade`` in the plan, or record why not: too small, or costing more than it brings."""
    benefit = cost_benefit.benefit(trade.value) if cost_benefit is not None else math.inf
    reason = ""
    if trade.value < min_trade_value:
        reason = f"trade of {trade.value:,.2f} below the minimum of {min_trade_value:,.2f}"
    elif trade.cost > benefit:
        reason = f"expected cost {trade.cost:,.2f} exceeds its benefit {benefit:,.2f}"
    symbol = trade.symbol
    if reason:
        reason = f"{note}{reason}"
        skipped = SkippedTrade(symbol, trade.side, trade.quantity, trade.value, trade.cost, benefit, reason)
        draft.skipped.append(skipped)
        draft.lines[symbol] = RebalanceLine(symbol, weight, target, weight - target, LineAction.SKIP, reason)
        return
    draft.trades.append(trade)
    action = LineAction.BUY if trade.side is Side.BUY else LineAction.SELL
    draft.lines[symbol] = RebalanceLine(symbol, weight, target, weight - target, action, note.rstrip(": "))


def _trade_quantity(held: float, desired: float, fractional: bool) -> tuple[Side, float]:
    """Side and quantity from ``held`` to ``desired``, rounded toward holding less than the target."""
    delta = desired - held
    if delta > 0:
        quantity = _floor(delta, fractional)
        return Side.BUY, quantity
    if desired <= ROUNDING and held > 0:
        return Side.SELL, held  # a full exit sells exactly what is held, fractions included
    return Side.SELL, min(_ceil(-delta, fractional), held)  # targets are >= 0, so here held > 0


def _floor(quantity: float, fractional: bool) -> float:
    step = 1e4 if fractional else 1.0
    return math.floor(quantity * step + ROUNDING) / step


def _ceil(quantity: float, fractional: bool) -> float:
    step = 1e4 if fractional else 1.0
    return math.ceil(quantity * step - ROUNDING) / step


def _fit_buys_to_cash(
    draft: _Draft,
    cash: float,
    cash_buffer: float,
    costs: RebalanceCosts,
    min_trade_value: float,
    cost_benefit: CostBenefit | None,
    fractional: bool,
) -> None:
    """Scale every buy by one factor so buys and their costs fit the cash after the sells.

    Each order's cost only grows with its quantity, so costs computed at the unscaled quantities
    bound those at the scaled ones: ``scale = (budget - buy costs) / buy value`` always fits.
    """
    sells = [t for t in draft.trades if t.side is Side.SELL]
    buys = [t for t in draft.trades if t.side is Side.BUY]
    available = cash + sum(t.value - t.cost for t in sells)
    budget = (1.0 - cash_buffer) * max(available, 0.0)
    needed = sum(t.value + t.cost for t in buys)
    if needed <= budget:
        return
    buy_value = sum(t.value for t in buys)
    scale = max(0.0, (budget - sum(t.cost for t in buys)) / buy_value)
    draft.trades = sells
    note = f"scaled to {scale:.1%} for cash: "
    for trade in buys:
        line = draft.lines[trade.symbol]
        quantity = _floor(trade.quantity * scale, fractional)
        if quantity <= 0:
            reason = f"{note}no cash left for it"
            draft.skipped.append(
                SkippedTrade(trade.symbol, trade.side, trade.quantity, trade.value, trade.cost, 0.0, reason)
            )
            draft.lines[trade.symbol] = RebalanceLine(
                trade.symbol, line.current_weight, line.target_weight, line.drift, LineAction.SKIP, reason
            )
            continue
        scaled = _Trade(trade.symbol, trade.side, quantity, trade.price, costs.cost(quantity, trade.price))
        _keep_or_skip(
            draft, scaled, line.current_weight, line.target_weight, min_trade_value, cost_benefit, note
        )


def _finish(
    draft: _Draft, asof: datetime, trigger: RebalanceTrigger, equity: float, cash: float
) -> RebalancePlan:
    trades = sorted(draft.trades, key=lambda t: (0 if t.side is Side.SELL else 1, t.symbol))
    cost = sum(t.cost for t in trades)
    flow = sum(t.value if t.side is Side.SELL else -t.value for t in trades)
    return RebalancePlan(
        asof=asof,
        trigger=trigger,
        lines=tuple(draft.lines[s] for s in sorted(draft.lines)),
        orders=tuple(t.order() for t in trades),
        skipped=tuple(sorted(draft.skipped, key=lambda s: s.symbol)),
        expected_cost=cost,
        turnover=sum(t.value for t in trades) / equity,
        equity=equity,
        cash_after=cash + flow - cost,
    )


def _price(prices: Mapping[str, float], symbol: str) -> float:
    price = prices.get(symbol)
    if price is None or not (math.isfinite(price) and price > 0):
        raise ValueError(f"no usable price for {symbol} (got {price!r})")
    return float(price)


def _check_targets(targets: Mapping[str, float]) -> None:
    for symbol, weight in targets.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"target weight of {symbol} must be a finite number >= 0 (long only), got {weight!r}"
            )
    total = sum(targets.values())
    if total > 1.0 + ROUNDING:
        raise ValueError(f"target weights sum to {total:.6f} > 1: that would be leverage")


def _check_plan_options(min_trade_value: float, cash_buffer: float) -> None:
    if not (math.isfinite(min_trade_value) and min_trade_value >= 0):
        raise ValueError(f"min_trade_value must be a finite number >= 0, got {min_trade_value!r}")
    if not (math.isfinite(cash_buffer) and 0 <= cash_buffer < 1):
        raise ValueError(f"cash_buffer must be in [0, 1), got {cash_buffer!r}")
