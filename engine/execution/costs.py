"""The pre-trade cost model: what an order is expected to cost before it is sent.

Three parts, each in money (USD) for the whole order:

* **commission**: ``engine.model.CommissionSchedule`` (``[broker]`` in ``config/default.toml``),
  the one schedule the paper broker charges and the TWS simulator bills: ``per_share * qty``
  with a per-order ``minimum``, capped at ``max_pct`` of the order's value, plus ``pct`` of the
  value; so the estimate is what paper trading charges for an order filled in one go (partial
  fills charge the minimum once, so never more). Re-exported here for the callers of this module.
* **spread**: half the quoted spread per share, ``qty * (ask - bid) / 2``: crossing from the
  mid to the touch, which is what a market order pays against the arrival mid.
* **market impact**: the square-root law, ``impact_bps = k * daily_vol * sqrt(qty / adv) * 1e4``
  (Torre/Barra; Almgren et al. 2005; Toth et al. 2011): impact grows with the square root of the
  order's share of a day's volume, scaled by the daily volatility. ``k`` is of order one in every
  empirical study; 1.0 is the conventional default, and a trading desk calibrates it from its
  own fills (``engine.execution.quality`` measures realized cost for that).

``daily_vol`` is the standard deviation of daily log returns and ``adv`` the mean daily volume
(shares) over the last ``window`` sessions of the symbol's history (20 by default: a month,
the usual horizon for both in execution models, recent enough to follow regime changes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.model import CommissionSchedule, Quote, StrategyCard
from engine.model.commission import DEFAULT_SPREAD_BPS
from engine.model.instruments import future_parts, fx_pair
from engine.model.options import contract_multiplier, is_option_symbol, model_half_spread

__all__ = [
    "DEFAULT_IMPACT_K",
    "DEFAULT_SPREAD_BPS",
    "DEFAULT_WINDOW",
    "ZERO_COST",
    "CommissionSchedule",
    "CostEstimate",
    "MarketStats",
    "card_expected_cost",
    "combine",
    "impact_bps",
    "order_cost",
]

DEFAULT_IMPACT_K = 1.0
"""Square-root law coefficient: of order one empirically; calibrate from realized costs."""
DEFAULT_WINDOW = 20
"""Sessions of history behind ``daily_vol`` and ``adv``."""


@dataclass(frozen=True, slots=True)
class MarketStats:
    """What the impact model needs to know about a symbol: daily volatility and average volume."""

    daily_vol: float
    """Standard deviation of daily log returns (a fraction: 0.02 is 2% a day)."""
    adv: float
    """Average daily volume, shares."""

    @classmethod
    def from_history(cls, history: pd.DataFrame, window: int = DEFAULT_WINDOW) -> MarketStats:
        """From daily bars (``close`` and ``volume`` columns): the last ``window`` sessions.

        The volatility uses the last ``window`` returns (``window + 1`` closes), the ADV the last
        ``window`` volumes; a shorter history uses what there is. Raises ``ValueError`` when there
        are fewer than 2 returns or no volume: an impact estimate made up from nothing would look
        like a real number.
        """
        if window < 2:
            raise ValueError(f"the cost model's window must be at least 2 sessions, got {window}")
        missing = {"close", "volume"} - set(history.columns)
        if missing:
            raise ValueError(f"history needs columns close and volume; missing {', '.join(sorted(missing))}")
        closes = history["close"].to_numpy(dtype=np.float64)[-(window + 1) :]
        volumes = history["volume"].to_numpy(dtype=np.float64)[-window:]
        if len(closes) < 3 or np.any(closes <= 0) or not np.all(np.isfinite(closes)):
            raise ValueError(f"history has {len(closes)} usable closes; the cost model needs at least 3")
        returns = np.diff(np.log(closes))
        adv = float(np.mean(volumes))
        if not (math.isfinite(adv) and adv > 0):
            raise ValueError("history has no traded volume; market impact cannot be estimated")
        return cls(daily_vol=float(np.std(returns, ddof=1)), adv=adv)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Expected cost of an order (or a card) in money, and in bps of its value at the price used."""

    commission: float
    spread: float
    impact: float
    total: float
    total_bps: float
    value: float = 0.0
    """The notional the bps are measured on (quantity times price; summed over a card's legs)."""


ZERO_COST = CostEstimate(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def impact_bps(quantity: float, stats: MarketStats, k: float = DEFAULT_IMPACT_K) -> float:
    """Square-root market impact in basis points: ``k * daily_vol * sqrt(qty / adv) * 1e4``."""
    if quantity <= 0:
        return 0.0
    return k * stats.daily_vol * math.sqrt(quantity / stats.adv) * 1e4


def order_cost(
    quantity: float,
    price: float,
    stats: MarketStats,
    *,
    spread: float | None = None,
    schedule: CommissionSchedule,
    k: float = DEFAULT_IMPACT_K,
    symbol: str = "",
) -> CostEstimate:
    """The expected cost of one order of ``quantity`` shares at ``price`` (the arrival mid);
    ``symbol`` decides the commission rule (``symbol_commission``; "" a share's).

    ``spread`` is the quoted spread (ask - bid) in price units; None assumes
    ``DEFAULT_SPREAD_BPS`` of the price. The side does not matter: every part is a cost either way.
    """
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"the cost model needs a positive price, got {price!r}")
    if quantity <= 0:
        return ZERO_COST
    value = quantity * price
    quoted = price * DEFAULT_SPREAD_BPS / 1e4 if spread is None else max(spread, 0.0)
    commission = symbol_commission(schedule, symbol, quantity, price)
    half_spread = quantity * quoted / 2.0
    impact = value * impact_bps(quantity, stats, k) / 1e4
    total = commission + half_spread + impact
    return CostEstimate(commission, half_spread, impact, total, total / value * 1e4, value)


def symbol_commission(schedule: CommissionSchedule, symbol: str, quantity: float, price: float) -> float:
    """The commission of one whole order by the rule ``symbol``'s name implies: a pair pays
    IDEALPRO's (``schedule.fx``) on its dollar value, in dollars (the card's total cost is read in
    the account currency: a XXXUSD pair's units x rate, a USDXXX pair's units; a cross's
    quote-currency value, as no rate is at hand here), a known future per contract, anything else
    the share schedule. A coin is not known by name here and is costed as a share; the paper
    broker charges it by its instrument's asset class (``engine.brokers.paper.commission``)."""
    if quantity <= 0:
        return 0.0
    pair = fx_pair(symbol)
    if pair is not None:
        return schedule.fx(quantity if pair[0] == "USD" else quantity * price)
    if future_parts(symbol) is not None:
        return schedule.futures(quantity)
    return schedule.commission(quantity, price)


def combine(estimates: Iterable[CostEstimate]) -> CostEstimate:
    """The sum of several estimates; the bps are weighted by each one's value."""
    items = list(estimates)
    commission = sum(e.commission for e in items)
    spread = sum(e.spread for e in items)
    impact = sum(e.impact for e in items)
    total = commission + spread + impact
    value = sum(e.value for e in items)
    bps = total / value * 1e4 if value > 0 else 0.0
    return CostEstimate(commission, spread, impact, total, bps, value)


def card_expected_cost(
    card: StrategyCard,
    prices: Mapping[str, Quote | float],
    history: Mapping[str, pd.DataFrame],
    *,
    schedule: CommissionSchedule,
    k: float = DEFAULT_IMPACT_K,
    window: int = DEFAULT_WINDOW,
) -> CostEstimate:
    """The expected cost of executing every leg of ``card``, summed.

    ``prices`` maps a symbol to its latest quote (mid and spread are used) or to a price alone
    (``DEFAULT_SPREAD_BPS`` assumed); a symbol missing there falls back to the card's reference
    price (``details['ref_price:SYM']``). ``history`` maps a symbol to its daily bars before today.
    Raises ``ValueError`` naming the symbol when a leg has no price or no usable history.
    Option legs are costed on their quote alone (an option series has no bar history here):
    commission per contract and half the quoted spread, or the paper broker's model spread
    when only a price is known; no impact term.
    """
    estimates = []
    for leg in card.legs:
        if is_option_symbol(leg.symbol):
            estimates.append(
                _option_leg_cost(card, leg.symbol, leg.quantity, prices.get(leg.symbol), schedule)
            )
            continue
        given = prices.get(leg.symbol)
        spread: float | None = None
        if isinstance(given, Quote):
            price, spread = given.mid, given.ask - given.bid
        elif given is not None:
            price = float(given)
        else:
            price = card.details.get(f"ref_price:{leg.symbol}", 0.0)
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"card {card.card_id}: no price for {leg.symbol}")
        bars = history.get(leg.symbol)
        if bars is None:
            raise ValueError(f"card {card.card_id}: no history for {leg.symbol}")
        try:
            stats = MarketStats.from_history(bars, window)
        except ValueError as exc:
            raise ValueError(f"card {card.card_id}: {leg.symbol}: {exc}") from None
        estimates.append(
            order_cost(leg.quantity, price, stats, spread=spread, schedule=schedule, k=k, symbol=leg.symbol)
        )
    return combine(estimates)


def _option_leg_cost(
    card: StrategyCard,
    symbol: str,
    contracts: float,
    given: Quote | float | None,
    schedule: CommissionSchedule,
) -> CostEstimate:
    if isinstance(given, Quote):
        price, half = given.mid, (given.ask - given.bid) / 2.0
    else:
        price = float(given) if given is not None else card.details.get(f"ref_price:{symbol}", 0.0)
        half = model_half_spread(price)
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"card {card.card_id}: no price for {symbol}")
    units = contracts * contract_multiplier(symbol)
    commission = schedule.option_order(contracts)
    spread = units * half
    value = units * price
    total = commission + spread
    return CostEstimate(commission, spread, 0.0, total, total / value * 1e4 if value > 0 else 0.0, value)
