"""The simulated security master: which contracts exist, their conIds and descriptions.

conIds are derived from a stable hash of the symbol, so every run, every connection and every
reconnect sees the same conId for a symbol (clients cache qualified contracts by conId).
Options are named by their OCC symbol (``engine.model.options``), which IB also uses as
``localSymbol``; that OCC symbol is the key of an option everywhere in the simulator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

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

    @property
    def key(self) -> str:
        return self.local_symbol or self.symbol

    @property
    def trading_class(self) -> str:
        """IB's trading class of a plain equity (option) is the (underlying) symbol."""
        return self.symbol

    @property
    def multiplier_text(self) -> str:
        """IB sends the multiplier as text and leaves it empty for stocks."""
        return "" if self.sec_type == "STK" else f"{self.multiplier:g}"


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

    def by_key(self, key: str) -> ContractSpec | None:
        """A stock symbol or an OCC option symbol."""
        if is_option_symbol(key):
            occ = OptionContract.parse(key)
            return self.option(occ.underlying, f"{occ.expiry:%Y%m%d}", occ.strike, occ.right)
        return self.stock(key)

    def resolve(self, query: ContractQuery) -> ContractSpec | None:
        """The one contract a query names, or None (ambiguous or unknown)."""
        if query.con_id:
            known = self._by_con_id.get(query.con_id)
            if known is not None:
                return known
            if not query.symbol and not query.local_symbol:
                return None
        sec_type = query.sec_type.upper() or "STK"
        if query.currency and query.currency.upper() != "USD":
            return None
        if sec_type == "STK":
            return self.stock(query.symbol or query.local_symbol)
        if sec_type == "OPT":
            if query.local_symbol:
                return self.by_key(query.local_symbol)
            return self.option(query.symbol, query.expiry, query.strike, query.right)
        return None
