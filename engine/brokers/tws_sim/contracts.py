"""The simulated security master: which contracts exist, their conIds and descriptions.

conIds are derived from a stable hash of the symbol, so every run, every connection and every
reconnect sees the same conId for a symbol (clients cache qualified contracts by conId).
Options are named by their OCC symbol (``engine.model.options``), which IB also uses as
``localSymbol``; that OCC symbol is the key of an option everywhere in the simulator.

Beyond US stocks and their options (issue 20):

* **Forex** (``secType CASH`` on ``IDEALPRO``): a pair is ``symbol`` = the base currency and
  ``currency`` = the quote currency, named ``EUR.USD`` as IB's localSymbol does (that is its key
  here; ``EURUSD`` finds it too). Quantities are units of the base currency, prices are quote
  currency per unit on IB's IDEALPRO tick (half a pip: 0.00005, or 0.005 for JPY quotes).
* **Futures** (``secType FUT``) of the instrument model's roots (``engine.model.instruments.
  FUTURE_ROOTS``: ES 50, MES 5, NQ 20, CL 1000, GC 100) in the months each lists (ES quarterly,
  CL monthly, GC's active months), with the root's last trading day as ``lastTradeDate`` (CLF27:
  20261221) and the contract month as ``contractMonth`` (202701). The key is IB's localSymbol
  (``ESZ6``); ``ESZ26`` (root, month code, two-digit year) finds it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from engine.model.instruments import FUTURE_ROOTS, MONTH_CODES, FutureRoot
from engine.model.options import OptionContract, is_option_symbol


@dataclass(frozen=True, slots=True)
class Listing:
    """One underlying the simulator lists: where it trades and what it is."""

    symbol: str
    primary_exchange: str
    long_name: str
    stock_type: str = "COMMON"


DEFAULT_LISTINGS: tuple[Listing, ...] = (
    Listing("AAPL", "NASDAQ", "APPLE INC"),
    Listing("MSFT", "NASDAQ", "MICROSOFT CORP"),
    Listing("GOOG", "NASDAQ", "ALPHABET INC-CL C"),
    Listing("IBM", "NYSE", "INTL BUSINESS MACHINES CORP"),
    Listing("AMZN", "NASDAQ", "AMAZON.COM INC"),
    Listing("SPY", "ARCA", "SPDR S&P 500 ETF TRUST", "ETF"),
    Listing("QQQ", "NASDAQ", "INVESCO QQQ TRUST SERIES 1", "ETF"),
    Listing("IWM", "ARCA", "ISHARES RUSSELL 2000 ETF", "ETF"),
    Listing("TLT", "NASDAQ", "ISHARES 20+ YEAR TREASURY BO", "ETF"),
    Listing("GLD", "ARCA", "SPDR GOLD SHARES", "ETF"),
)


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """A fully qualified contract; ``key`` (the localSymbol) names it in quotes, orders and books."""

    con_id: int
    symbol: str
    sec_type: str
    primary_exchange: str
    long_name: str
    stock_type: str = "COMMON"
    currency: str = "USD"
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: float = 1.0
    local_symbol: str = ""
    under_con_id: int = 0
    min_tick: float = 0.01
    route: str = "SMART"
    """The exchange messages name: SMART for stocks and options, IDEALPRO for forex, the
    listing exchange for futures."""
    trading_class_text: str = ""
    contract_month: str = ""
    """A future's delivery month ``YYYYMM`` (CLF27: 202701, though it stops trading in 2026)."""

    @property
    def key(self) -> str:
        return self.local_symbol or self.symbol

    @property
    def trading_class(self) -> str:
        """IB's trading class of a plain equity (option) is the (underlying) symbol; a pair's is
        its localSymbol (``EUR.USD``)."""
        return self.trading_class_text or self.symbol

    @property
    def multiplier_text(self) -> str:
        """IB sends the multiplier as text and leaves it empty for stocks and forex."""
        return "" if self.sec_type in ("STK", "CASH") else f"{self.multiplier:g}"

    @property
    def venue(self) -> str:
        """Where an execution happened (execDetails' exchange)."""
        if self.primary_exchange:
            return self.primary_exchange
        return self.route if self.route != "SMART" else "CBOE"


@dataclass(frozen=True, slots=True)
class ContractQuery:
    """What a client asked for (the 12 contract fields of a request)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


DEFAULT_PAIRS: tuple[str, ...] = ("EUR.USD", "GBP.USD", "AUD.USD", "USD.JPY", "USD.CHF", "USD.CAD", "EUR.GBP")

_CURRENCY_NAMES = {
    "EUR": "European Monetary Union Euro",
    "GBP": "British pound",
    "AUD": "Australian dollar",
    "USD": "US dollar",
    "JPY": "Japanese yen",
    "CHF": "Swiss franc",
    "CAD": "Canadian dollar",
}


def stable_con_id(name: str) -> int:
    """A conId that depends only on the name: 8 to 10 digits, positive 31-bit like IB's."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return 10_000_000 + int.from_bytes(digest, "big") % 2_000_000_000


_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}


@dataclass
class Universe:
    """The contracts a client can qualify; unknown ones get error 200 from the session."""

    listings: Mapping[str, Listing] = field(
        default_factory=lambda: {item.symbol: item for item in DEFAULT_LISTINGS}
    )
    pairs: tuple[str, ...] = DEFAULT_PAIRS
    """Forex pairs as ``BASE.QUOTE``."""
    futures: Mapping[str, FutureRoot] = field(default_factory=lambda: dict(FUTURE_ROOTS))
    _by_con_id: dict[int, ContractSpec] = field(default_factory=dict, init=False)

    @classmethod
    def of(cls, listings: tuple[Listing, ...] | list[Listing]) -> Universe:
        return cls({item.symbol: item for item in listings})

    def stock(self, symbol: str) -> ContractSpec | None:
        listing = self.listings.get(symbol.upper())
        if listing is None:
            return None
        spec = ContractSpec(
            con_id=stable_con_id(listing.symbol),
            symbol=listing.symbol,
            sec_type="STK",
            primary_exchange=listing.primary_exchange,
            long_name=listing.long_name,
            stock_type=listing.stock_type,
            local_symbol=listing.symbol,
        )
        self._by_con_id[spec.con_id] = spec
        return spec

    def option(self, underlying: str, expiry: str, strike: float, right: str) -> ContractSpec | None:
        """An equity option on a listed underlying; None when any part is missing or invalid."""
        base = self.stock(underlying)
        side = _RIGHTS.get(right.upper())
        if base is None or side is None or len(expiry) != 8 or not expiry.isdigit():
            return None
        try:
            when = date(int(expiry[:4]), int(expiry[4:6]), int(expiry[6:]))
            occ = OptionContract(base.symbol, when, strike, "C" if side == "C" else "P")
        except ValueError:
            return None
        spec = ContractSpec(
            con_id=stable_con_id(occ.symbol),
            symbol=base.symbol,
            sec_type="OPT",
            primary_exchange="",
            long_name=base.long_name,
            stock_type="",
            expiry=expiry,
            strike=strike,
            right=side,
            multiplier=occ.multiplier,
            local_symbol=occ.symbol,
            under_con_id=base.con_id,
        )
        self._by_con_id[spec.con_id] = spec
        return spec

    def forex(self, base: str, quote: str) -> ContractSpec | None:
        """A listed pair (``EUR``, ``USD``); None when the simulator does not list it."""
        name = f"{base.upper()}.{quote.upper()}"
        if name not in self.pairs:
            return None
        base, quote = name.split(".")
        spec = ContractSpec(
            con_id=stable_con_id(name),
            symbol=base,
            sec_type="CASH",
            primary_exchange="",
            long_name=_CURRENCY_NAMES.get(base, base),
            stock_type="",
            currency=quote,
            local_symbol=name,
            min_tick=0.005 if quote == "JPY" else 0.00005,
            route="IDEALPRO",
            trading_class_text=name,
        )
        self._by_con_id[spec.con_id] = spec
        return spec

    def future(self, root: str, month: str) -> ContractSpec | None:
        """A future of a listed root for a contract month ``YYYYMM``, or by its last trading day
        ``YYYYMMDD`` (which for CL lies in the month before the contract month)."""
        product = self.futures.get(root.upper())
        if product is None or len(month) not in (6, 8) or not month.isdigit():
            return None
        year, mon = int(month[:4]), int(month[4:6])
        if not 1 <= mon <= 12:
            return None
        if len(month) == 8:
            after = (year + 1, 1) if mon == 12 else (year, mon + 1)
            for y, m in ((year, mon), after):
                if product.lists(m) and f"{product.last_trade(y, m):%Y%m%d}" == month:
                    return self.future(root, f"{y}{m:02d}")
            return None
        if not product.lists(mon):
            return None
        name = root.upper()
        spec = ContractSpec(
            con_id=stable_con_id(f"{name}{year}{mon:02d}"),
            symbol=name,
            sec_type="FUT",
            primary_exchange="",
            long_name=product.name,
            stock_type="",
            expiry=f"{product.last_trade(year, mon):%Y%m%d}",
            multiplier=product.multiplier,
            local_symbol=f"{name}{MONTH_CODES[mon - 1]}{year % 10}",
            min_tick=product.tick_size,
            route=product.exchange,
            contract_month=f"{year}{mon:02d}",
        )
        self._by_con_id[spec.con_id] = spec
        return spec

    def _future_by_local(self, text: str) -> ContractSpec | None:
        """``ESZ6`` (IB's localSymbol, this decade) or ``ESZ26`` (two-digit year)."""
        for digits in (2, 1):
            root, code, year = text[: -1 - digits], text[-1 - digits : -digits], text[-digits:]
            if root in self.futures and code and code in MONTH_CODES and year.isdigit():
                full = 2020 + int(year) if digits == 1 else 2000 + int(year)
                return self.future(root, f"{full}{MONTH_CODES.index(code) + 1:02d}")
        return None

    def by_key(self, key: str) -> ContractSpec | None:
        """A stock symbol, an OCC option symbol, a pair (``EUR.USD`` or ``EURUSD``) or a future
        (``ESZ6`` or ``ESZ26``)."""
        if is_option_symbol(key):
            occ = OptionContract.parse(key)
            return self.option(occ.underlying, f"{occ.expiry:%Y%m%d}", occ.strike, occ.right)
        stock = self.stock(key)
        if stock is not None:
            return stock
        text = key.upper()
        if len(text) == 7 and text[3] == ".":
            return self.forex(text[:3], text[4:])
        if len(text) == 6 and text.isalpha():
            pair = self.forex(text[:3], text[3:])
            if pair is not None:
                return pair
        return self._future_by_local(text)

    def resolve(self, query: ContractQuery) -> ContractSpec | None:
        """The one contract a query names, or None (ambiguous or unknown)."""
        if query.con_id:
            known = self._by_con_id.get(query.con_id)
            if known is not None:
                return known
            if not query.symbol and not query.local_symbol:
                return None
        sec_type = query.sec_type.upper() or "STK"
        if sec_type == "CASH":
            return self._resolve_forex(query)
        if query.currency and query.currency.upper() != "USD":
            return None
        if sec_type == "FUT":
            return self._resolve_future(query)
        if sec_type == "STK":
            return self.stock(query.symbol or query.local_symbol)
        if sec_type == "OPT":
            if query.local_symbol:
                return self.by_key(query.local_symbol)
            return self.option(query.symbol, query.expiry, query.strike, query.right)
        return None

    def _resolve_forex(self, query: ContractQuery) -> ContractSpec | None:
        """``Forex('EURUSD')``: symbol EUR, currency USD (or localSymbol ``EUR.USD``) on IDEALPRO."""
        if query.exchange and query.exchange not in ("IDEALPRO", "SMART"):
            return None
        if query.local_symbol:
            spec = self.by_key(query.local_symbol)
            return spec if spec is not None and spec.sec_type == "CASH" else None
        if not query.symbol or not query.currency:
            return None
        return self.forex(query.symbol, query.currency)

    def _resolve_future(self, query: ContractQuery) -> ContractSpec | None:
        """By localSymbol, or root and contract month; a given multiplier or exchange must match."""
        if query.local_symbol:
            spec = self._future_by_local(query.local_symbol.upper())
        else:
            spec = self.future(query.symbol, query.expiry)
        if spec is None:
            return None
        try:
            wanted = float(query.multiplier) if query.multiplier.strip() else 0.0
        except ValueError:
            return None
        if wanted and wanted != spec.multiplier:
            return None
        if query.exchange and query.exchange not in (spec.route, "SMART"):
            return None
        return spec
