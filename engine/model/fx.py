"""Money in the account currency: FX conversion with a stated rate, pip values, lots and sizing.

onetap keeps one account currency (USD unless ``[account] currency`` says otherwise). An
instrument priced in another currency makes its P&L, exposure and risk in that currency (a
currency pair's in its *quote* currency: one EURUSD unit moving 0.0001 makes 0.0001 USD; one
USDJPY unit moving 0.01 makes 0.01 JPY), and every figure the risk engine compares with a limit
is converted into the account currency first, through a ``ConversionRate`` that says which pair
it came from, when that pair was last marked, and how old that mark was. A rate older than the
allowed age, or none at all, is never guessed at: ``convert`` raises ``RateRefused`` carrying a
``RefusalCode`` (``FX_RATE_STALE`` / ``FX_RATE_MISSING``) and the reason, and the order that
needed it is refused with that code.

The route from a currency to the account currency is the direct pair (GBPUSD for GBP into USD),
else its inverse (USDJPY for JPY into USD, at 1 / rate), else through USD (EUR into JPY through
EURUSD and USDJPY); the oldest of the legs' marks is the rate's age.

Pips and lots (the FX conventions): a pip is 0.0001 (0.01 for a yen-quoted pair); a standard lot
is 100,000 units of the base currency, a mini 10,000, a micro 1,000. The pip value of one lot is
``pip x lot units`` in the quote currency (EURUSD: 10 USD per standard lot; USDJPY: 1,000 JPY,
which is 1,000 / USDJPY in USD), converted into the account currency. Sizing from a stop:
risk per trade = stop distance in pips x pip value per lot x lots, so
lots = risk budget / (stop pips x pip value per lot), rounded *down* to the lot step (never up:
a rounded-up size would risk more than the budget) and refused below the spec's minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec, fx_pair
from engine.model.vocabulary import RefusalCode

STANDARD_LOT = 100_000.0
MINI_LOT = 10_000.0
MICRO_LOT = 1_000.0
LOT_UNITS: dict[str, float] = {"standard": STANDARD_LOT, "mini": MINI_LOT, "micro": MICRO_LOT}
"""Units of the base currency in each named FX lot."""

PIVOT = "USD"
"""The currency a cross is converted through when neither direct pair is quoted."""


@dataclass(frozen=True, slots=True)
class Mark:
    """The latest price of a pair and when it was seen (a quote's mid or last, from the market view)."""

    price: float
    ts: datetime
    source: str = "market view"


MarkSource = Callable[[str], Mark | None]
"""``pair symbol -> its latest mark`` (None when the pair was never quoted)."""


class RateRefused(ValueError):
    """No trustworthy rate: the order or figure that needed it is refused with ``code``."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConversionRate:
    """Units of ``to`` per unit of ``frm``, with where it came from and how old it is."""

    frm: str
    to: str
    rate: float
    route: tuple[str, ...]
    """The pairs read, each with ``^-1`` where its inverse was used (``("USDJPY^-1",)``); empty
    when ``frm == to``."""
    asof: datetime | None
    """The oldest leg's mark time (None when no pair was needed)."""
    age_s: float
    source: str

    def describe(self) -> str:
        if not self.route:
            return f"{self.frm} is the account currency"
        return (
            f"1 {self.frm} = {self.rate:.6g} {self.to} via {' x '.join(self.route)} "
            f"({self.source}, {self.age_s:.0f} s old)"
        )


def conversion_rate(frm: str, to: str, marks: MarkSource, now: datetime, max_age_s: float) -> ConversionRate:
    """The rate from ``frm`` into ``to`` at ``now``; raises ``RateRefused`` when a pair on the route
    was never marked (FX_RATE_MISSING) or its mark is older than ``max_age_s`` (FX_RATE_STALE)."""
    frm, to = frm.upper(), to.upper()
    if frm == to:
        return ConversionRate(frm, to, 1.0, (), None, 0.0, "identity")
    legs = _route(frm, to, marks)
    if legs is None:
        raise RateRefused(
            RefusalCode.FX_RATE_MISSING,
            f"no rate from {frm} into {to}: neither {frm}{to}, {to}{frm} "
            f"nor a route through {PIVOT} is quoted",
        )
    rate, names, oldest, sources = 1.0, [], None, []
    for pair, inverted, mark in legs:
        if not (math.isfinite(mark.price) and mark.price > 0):
            raise RateRefused(RefusalCode.FX_RATE_MISSING, f"{pair} has no usable price ({mark.price!r})")
        rate *= 1.0 / mark.price if inverted else mark.price
        names.append(pair + ("^-1" if inverted else ""))
        oldest = mark.ts if oldest is None or mark.ts < oldest else oldest
        sources.append(mark.source)
    assert oldest is not None
    age = (now - oldest).total_seconds()
    if age > max_age_s:
        raise RateRefused(
            RefusalCode.FX_RATE_STALE,
            f"the {frm}->{to} rate ({' x '.join(names)}) was last marked {age:.0f} s ago at "
            f"{oldest.isoformat()}, older than the {max_age_s:.0f} s allowed",
        )
    return ConversionRate(frm, to, rate, tuple(names), oldest, age, ", ".join(sorted(set(sources))))


def _route(frm: str, to: str, marks: MarkSource) -> list[tuple[str, bool, Mark]] | None:
    direct = marks(frm + to)
    if direct is not None:
        return [(frm + to, False, direct)]
    inverse = marks(to + frm)
    if inverse is not None:
        return [(to + frm, True, inverse)]
    if PIVOT in (frm, to):
        return None
    first, second = _route(frm, PIVOT, marks), _route(PIVOT, to, marks)
    if first is None or second is None:
        return None
    return first + second


def convert(
    amount: float, frm: str, to: str, marks: MarkSource, now: datetime, max_age_s: float
) -> tuple[float, ConversionRate]:
    """``amount`` of ``frm`` in ``to``, and the rate used (see ``conversion_rate``)."""
    rate = conversion_rate(frm, to, marks, now, max_age_s)
    return amount * rate.rate, rate


# ---------------------------------------------------------------------------------------- P&L
def pnl_in_quote(spec: InstrumentSpec, quantity: float, entry: float, price: float) -> float:
    """P&L of ``quantity`` (signed) from ``entry`` to ``price`` in the instrument's own currency:
    points x quantity x multiplier (a future's contract size; a pair's is 1, in its quote currency)."""
    return (price - entry) * quantity * spec.multiplier


def pnl_in_account(
    spec: InstrumentSpec,
    quantity: float,
    entry: float,
    price: float,
    account_currency: str,
    marks: MarkSource,
    now: datetime,
    max_age_s: float,
) -> tuple[float, ConversionRate]:
    """``pnl_in_quote`` converted into the account currency at the current rate, with the rate."""
    return convert(
        pnl_in_quote(spec, quantity, entry, price), spec.currency, account_currency, marks, now, max_age_s
    )


def exposure_in_account(
    spec: InstrumentSpec,
    quantity: float,
    price: float,
    account_currency: str,
    marks: MarkSource,
    now: datetime,
    max_age_s: float,
) -> tuple[float, ConversionRate]:
    """Absolute notional (|quantity| x price x multiplier) in the account currency: what the gross
    exposure, position and order-value limits compare. A pair's notional is its base amount's
    value in the quote currency (100,000 EURUSD at 1.10 is USD 110,000)."""
    return convert(
        abs(quantity) * price * spec.multiplier, spec.currency, account_currency, marks, now, max_age_s
    )


# ---------------------------------------------------------------------------------------- pips
def _fx(spec: InstrumentSpec) -> tuple[str, str]:
    pair = fx_pair(spec.symbol)
    if spec.asset_class is not AssetClass.FX or pair is None or spec.pip_size <= 0:
        raise ValueError(
            f"{spec.symbol} is not a currency pair with a pip size (asset class {spec.asset_class})"
        )
    return pair


def pip_value_in_quote(spec: InstrumentSpec, units: float = STANDARD_LOT) -> float:
    """Quote currency one pip moves ``units`` of the base currency: EURUSD 10 USD per standard
    lot, USDJPY 1,000 JPY."""
    _fx(spec)
    return spec.pip_size * units


def pip_value(
    spec: InstrumentSpec,
    account_currency: str,
    marks: MarkSource,
    now: datetime,
    max_age_s: float,
    units: float = STANDARD_LOT,
) -> tuple[float, ConversionRate]:
    """Account currency one pip moves ``units`` of the pair, and the rate used. For USDJPY in a USD
    account that is 1,000 / USDJPY (the pair's own mark is the rate); for EURGBP, 10 GBP x GBPUSD."""
    return convert(pip_value_in_quote(spec, units), spec.currency, account_currency, marks, now, max_age_s)


def pips_between(spec: InstrumentSpec, a: float, b: float) -> float:
    """|a - b| in pips (rounded to a tenth of a pip, the pipette, against float noise)."""
    _fx(spec)
    return round(abs(a - b) / spec.pip_size, 1)


# ---------------------------------------------------------------------------------------- lots
def lot_step(spec: InstrumentSpec, lot: str = "micro") -> float:
    """The quantity step for ``lot`` ("standard", "mini", "micro"; FX) never finer than the spec's
    own lot size; for anything else the spec's lot size."""
    if spec.asset_class is not AssetClass.FX:
        return spec.lot_size
    try:
        units = LOT_UNITS[lot]
    except KeyError:
        raise ValueError(f"unknown lot {lot!r}: one of {', '.join(LOT_UNITS)}") from None
    return max(units, spec.lot_size)


def round_to_lot(spec: InstrumentSpec, quantity: float, lot: str = "micro") -> float:
    """``quantity`` rounded toward zero to a whole number of lot steps; 0.0 below the spec's
    minimum (an order that small is not one the venue takes). Toward zero, never up: sizing must
    not risk more than it was given."""
    step = lot_step(spec, lot)
    # relative slack: 0.2971 / 1e-8 is 29709999.999999996 in floats, a whole 29,710,000 steps
    steps = math.floor(round(abs(quantity) / step, 6))
    units = round(steps * step, 12)
    if units < spec.min_lot - 1e-9:
        return 0.0
    return math.copysign(units, quantity) if units else 0.0


@dataclass(frozen=True, slots=True)
class FxSize:
    """A position size from a stop in pips, and the arithmetic that made it."""

    units: float
    lots: float
    """``units`` in standard lots (0.37 = 37,000 units)."""
    stop_pips: float
    pip_value_per_lot: float
    """Account currency per pip per standard lot at the rate used."""
    risk: float
    """Account currency lost at the stop: stop pips x pip value per lot x lots (<= the budget)."""
    rate: ConversionRate
    refused: str = ""
    """Why the size is zero (the budget does not reach the minimum lot), else empty."""


def size_from_stop(
    spec: InstrumentSpec,
    risk_budget: float,
    stop_pips: float,
    account_currency: str,
    marks: MarkSource,
    now: datetime,
    max_age_s: float,
    lot: str = "micro",
) -> FxSize:
    """Units of ``spec`` whose loss at a stop ``stop_pips`` away is at most ``risk_budget``
    (account currency): lots = budget / (stop pips x pip value per lot), rounded down to ``lot``."""
    if not (math.isfinite(risk_budget) and risk_budget > 0):
        raise ValueError(f"risk budget must be a positive amount, got {risk_budget!r}")
    if not (math.isfinite(stop_pips) and stop_pips > 0):
        raise ValueError(f"stop distance must be a positive number of pips, got {stop_pips!r}")
    per_lot, rate = pip_value(spec, account_currency, marks, now, max_age_s)
    raw_units = risk_budget / (stop_pips * per_lot) * STANDARD_LOT
    units = round_to_lot(spec, raw_units, lot)
    lots = units / STANDARD_LOT
    refused = ""
    if units == 0.0:
        refused = (
            f"{spec.symbol}: a {stop_pips:g}-pip stop at {per_lot:.4g} {account_currency} per pip per lot "
            f"allows {raw_units:,.0f} units for {risk_budget:,.2f} {account_currency}, below one "
            f"{lot} lot ({lot_step(spec, lot):,.0f}) or the minimum ({spec.min_lot:,.0f})"
        )
    return FxSize(units, lots, stop_pips, per_lot, stop_pips * per_lot * lots, rate, refused)


def card_pip_details(
    symbol: str,
    entry: float,
    stop: float,
    units: float,
    prices: Mapping[str, float],
    account_currency: str,
    asof: datetime,
) -> dict[str, float]:
    """A one-pair card's sizing in FX terms, for its details: the stop distance in pips, the pip
    value per standard lot in the account currency, the size in lots, and the risk at the stop
    (stop pips x pip value per lot x lots). The rate is read from the card's own snapshot of
    prices (same instant, so no age); empty when ``symbol`` is no pair or no rate is in it."""
    pair = fx_pair(symbol)
    if pair is None or not (entry > 0 and stop > 0 and units > 0):
        return {}
    spec = InstrumentSpec.default(pair[0] + pair[1], AssetClass.FX)

    def marks(p: str) -> Mark | None:
        return Mark(prices[p], asof, "card prices") if prices.get(p, 0.0) > 0 else None

    try:
        per_lot, _rate = pip_value(spec, account_currency, marks, asof, max_age_s=math.inf)
    except RateRefused:
        return {}
    stop_pips = pips_between(spec, entry, stop)
    lots = units / STANDARD_LOT
    return {
        "fx:stop_pips": stop_pips,
        "fx:pip_value_per_lot": per_lot,
        "fx:lots": lots,
        "fx:risk": stop_pips * per_lot * lots,
    }


def round_to_tick(price: float, tick: float) -> float:
    """``price`` on the instrument's tick grid: to the tick's decimals when the tick is a power of
    ten (0.01 for a stock, exactly ``round(price, 2)``; 0.00001 for EURUSD), else to the nearest
    multiple (0.25 for ES), without the multiplication's float noise."""
    decimals = max(0, -math.floor(math.log10(tick) + 1e-12))
    if math.isclose(tick, 10.0**-decimals, rel_tol=1e-9):
        return round(price, decimals)
    return round(round(price / tick) * tick, decimals + 2)
