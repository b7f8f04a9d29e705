"""What an instrument is and how it trades: asset class, exchange and calendar, currency, tick,
lots, multiplier, pip, and whether its data carries volume.

``engine.model.market.Instrument`` is the trading view the engine has always used (symbol, tick,
tradable, sector); an ``InstrumentSpec`` is the whole convention of one instrument as a user
describes it for their own market (``[data] instruments``, a TOML or CSV file read by
``engine.data.instruments``), and makes that trading view with ``instrument()``.

The calendar is what decides which rows of a series are real sessions: an index on the Tokyo
exchange is validated, scanned and replayed on XTKS's sessions, a coin on ``24/7``'s, a currency
pair on ``24/5``'s (exchange_calendars names). The exchange is a label (a MIC such as XTKS, or a
venue such as IDEALPRO); when no calendar is given the exchange's own calendar is used, and for
FX and crypto the round-the-clock ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from engine.model.enums import AssetClass
from engine.model.future_expiry import last_trade_date
from engine.model.market import Instrument

ASSET_CLASS_NAMES: dict[str, AssetClass] = {
    "stock": AssetClass.STOCK,
    "etf": AssetClass.ETF,
    "index": AssetClass.INDEX,
    "commodity": AssetClass.COMMODITY,
    "fx": AssetClass.FX,
    "crypto": AssetClass.CRYPTO,
    "future": AssetClass.FUTURE,
}
"""The names a user writes (``asset_class = "index"``) for each asset class."""

DEFAULT_EXCHANGE: dict[AssetClass, str] = {AssetClass.FX: "IDEALPRO", AssetClass.CRYPTO: "PAXOS"}
DEFAULT_CALENDAR: dict[AssetClass, str] = {AssetClass.FX: "24/5", AssetClass.CRYPTO: "24/7"}
"""FX and crypto trade around the clock whatever venue quotes them."""

CURRENCIES = frozenset({
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK",
    "HKD", "SGD", "MXN", "CNH", "ZAR", "PLN", "CZK", "HUF", "TRY", "ILS", "KRW",
})  # fmt: skip
"""ISO codes of the currencies a pair may be made of (IDEALPRO's list): a pair is two different
ones of these. The instrument model owns the list; the IBKR adapter reads it from here."""

MONTH_CODES = "FGHJKMNQUVXZ"
"""Futures month codes, January to December."""


@dataclass(frozen=True, slots=True)
class FutureRoot:
    """One futures product's conventions: where it trades, its contract size and tick, which
    months are listed (``cycle``, month codes) and when a contract stops trading (``expiry``, a
    rule of ``engine.model.future_expiry``)."""

    exchange: str
    multiplier: float
    """Currency per point per contract: one ES point is USD 50."""
    tick_size: float
    name: str = ""
    currency: str = "USD"
    cycle: str = "HMUZ"
    expiry: str = "quarterly_third_friday"

    def lists(self, month: int) -> bool:
        """Whether contract month ``month`` (1-12) is one of this root's listed months."""
        return 1 <= month <= 12 and MONTH_CODES[month - 1] in self.cycle

    def last_trade(self, year: int, month: int) -> date:
        """The last trading day of the ``year``-``month`` contract (CLF27: 2026-12-21)."""
        return last_trade_date(self.expiry, year, month)


FUTURE_ROOTS: dict[str, FutureRoot] = {
    "ES": FutureRoot("CME", 50.0, 0.25, "E-mini S&P 500"),
    "MES": FutureRoot("CME", 5.0, 0.25, "Micro E-mini S&P 500"),
    "NQ": FutureRoot("CME", 20.0, 0.25, "E-mini NASDAQ 100"),
    "MNQ": FutureRoot("CME", 2.0, 0.25, "Micro E-mini NASDAQ 100"),
    "CL": FutureRoot("NYMEX", 1000.0, 0.01, "Light Sweet Crude Oil", cycle=MONTH_CODES, expiry="cl"),
    "GC": FutureRoot("COMEX", 100.0, 0.1, "Gold", cycle="GJMQVZ", expiry="third_last_business_day"),
}
"""The futures roots onetap knows: a symbol is the root, a month code and a two-digit year (ESZ26)."""


def future_last_trade(symbol: str) -> date | None:
    """The last trading day of a future symbol (``ESZ26`` -> 2026-12-18); None for anything else
    or a month its root does not list (``ESF27``: ES is quarterly)."""
    parts = future_parts(symbol)
    if parts is None:
        return None
    root, year, month = parts
    product = FUTURE_ROOTS[root]
    return product.last_trade(year, month) if product.lists(month) else None


def fx_pair(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a pair symbol (``EURUSD``, ``EUR.USD``, ``EUR/USD``); None otherwise."""
    text = symbol.upper().replace(".", "").replace("/", "")
    if len(text) != 6 or len(symbol) not in (6, 7):
        return None
    base, quote = text[:3], text[3:]
    if base in CURRENCIES and quote in CURRENCIES and base != quote:
        return base, quote
    return None


def future_parts(symbol: str) -> tuple[str, int, int] | None:
    """(root, year, month) of ``ESZ26``; None when the root is not a known one."""
    text = symbol.upper()
    root, code, year = text[:-3], text[-3:-2], text[-2:]
    if root not in FUTURE_ROOTS or not code or code not in MONTH_CODES or not year.isdigit():
        return None
    return root, 2000 + int(year), MONTH_CODES.index(code) + 1


def future_multiplier(symbol: str) -> float:
    """The contract size of a future symbol (50 for ESZ26); 1 for anything that is not one."""
    parts = future_parts(symbol)
    return FUTURE_ROOTS[parts[0]].multiplier if parts is not None else 1.0


def pip_size_for(symbol: str) -> float:
    """0.01 for a pair quoted in yen (USDJPY, EURJPY), else 0.0001: the FX convention."""
    quote = symbol.replace("/", "").replace(".", "").upper()[-3:]
    return 0.01 if quote == "JPY" else 0.0001


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument's conventions. Defaults describe a US stock on XNYS in dollars.

    ``lot_size``: the quantity step (1 share; 1 unit of base currency for FX); ``min_lot``: the
    smallest order; ``multiplier``: currency per point per unit (1 for cash instruments, the
    contract size for a future); ``pip_size``: FX only (0 otherwise). ``has_volume`` False says the
    series' volume means nothing (an index, a commodity's spot price, a closes-only file): the
    templates that read volume are held back for it rather than fed zeros.
    """

    symbol: str
    asset_class: AssetClass = AssetClass.STOCK
    exchange: str = "XNYS"
    calendar: str = "XNYS"
    currency: str = "USD"
    tick_size: float = 0.01
    lot_size: float = 1.0
    min_lot: float = 1.0
    multiplier: float = 1.0
    pip_size: float = 0.0
    has_volume: bool = True
    tradable: bool = True
    name: str = ""
    sector: str = ""
    fractional: bool = True
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.symbol or self.symbol != self.symbol.strip().upper():
            raise ValueError(f"instrument symbol must be upper case without spaces, got {self.symbol!r}")
        for name in ("tick_size", "lot_size", "min_lot", "multiplier"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{self.symbol}: {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.pip_size) and self.pip_size >= 0):
            raise ValueError(f"{self.symbol}: pip_size must be zero or positive, got {self.pip_size!r}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"{self.symbol}: currency must be a 3-letter ISO code, got {self.currency!r}")

    @classmethod
    def default(
        cls, symbol: str, asset_class: AssetClass = AssetClass.STOCK, **overrides: object
    ) -> InstrumentSpec:
        """The conventions of ``asset_class`` where the user gave none: FX pips and 24/5, crypto 24/7
        in satoshi lots, an index or a commodity without meaningful volume."""
        values: dict[str, object] = {"asset_class": asset_class}
        exchange = overrides.get("exchange") or DEFAULT_EXCHANGE.get(asset_class, "XNYS")
        values["exchange"] = exchange
        values["calendar"] = DEFAULT_CALENDAR.get(asset_class, str(exchange))
        if asset_class is AssetClass.FX:
            pip = pip_size_for(symbol)
            values |= {"pip_size": pip, "tick_size": pip / 10.0, "currency": symbol[-3:].upper()}
        elif asset_class is AssetClass.CRYPTO:
            values |= {"lot_size": 1e-8, "min_lot": 1e-8}
        elif asset_class in (AssetClass.INDEX, AssetClass.COMMODITY):
            values |= {"has_volume": False}
        values |= {k: v for k, v in overrides.items() if v is not None}
        return cls(symbol, **values)  # type: ignore[arg-type]

    def instrument(self) -> Instrument:
        """The engine's trading view of this instrument."""
        return Instrument(
            self.symbol,
            asset_class=self.asset_class,
            currency=self.currency,
            sector=self.sector,
            tick_size=self.tick_size,
            fractional=self.fractional,
            tradable=self.tradable,
            name=self.name,
        )


def spec_for_symbol(symbol: str) -> InstrumentSpec:
    """The conventions a bare symbol implies: a currency pair (``EURUSD``: pips, 24/5, quoted in
    its quote currency), a known future (``ESZ26``: its multiplier, tick and exchange), else a US
    stock. A user's ``[data] instruments`` file overrides this where it names the symbol."""
    pair = fx_pair(symbol)
    if pair is not None:
        return InstrumentSpec.default(pair[0] + pair[1], AssetClass.FX)
    parts = future_parts(symbol)
    if parts is not None:
        root = FUTURE_ROOTS[parts[0]]
        return InstrumentSpec(
            symbol.upper(),
            asset_class=AssetClass.FUTURE,
            exchange=root.exchange,
            calendar="CMES",
            currency=root.currency,
            tick_size=root.tick_size,
            multiplier=root.multiplier,
            fractional=False,
            name=root.name,
        )
    return InstrumentSpec(symbol.upper())


def spec_of(instrument: Instrument) -> InstrumentSpec:
    """The spec of an instrument the engine already knows (the shipped ones): a US listing on XNYS."""
    return InstrumentSpec(
        instrument.symbol,
        asset_class=instrument.asset_class,
        currency=instrument.currency,
        tick_size=instrument.tick_size,
        tradable=instrument.tradable,
        name=instrument.name,
        sector=instrument.sector,
        fractional=instrument.fractional,
        has_volume=instrument.asset_class is not AssetClass.INDEX,
    )
