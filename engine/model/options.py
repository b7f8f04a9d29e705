"""Listed equity options: the contract, its OCC symbol, and how much underlying one contract covers.

An option is traded, booked and journaled under its OCC symbol with the root padded to six
characters, ``"AAPL  120420P00550000"``: root, expiry YYMMDD, right, strike x 1000 in eight
digits. It is the form Interactive Brokers uses as ``localSymbol``, it sorts by underlying,
expiry, right and strike, and it can never be mistaken for a stock symbol. One symbol names
one contract: only the padded form is accepted, so a book is never keyed twice for one option.

Quantities of an option are contracts; prices are per unit of the underlying (the quoted
premium); money is quantity x price x ``contract_multiplier(symbol)``.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from engine.model.instruments import future_multiplier

OptionRight = Literal["C", "P"]

STANDARD_MULTIPLIER = 100.0
"""Shares of the underlying one standard US equity option contract covers."""

ROOT_WIDTH = 6
"""The OCC symbol pads the root to this many characters with spaces."""

MAX_STRIKE = 99_999.999
"""Eight digits of thousandths: the largest strike an OCC symbol can write."""

EXPIRY_TIME = time(16, 0)
"""Equity options stop trading at the regular close of their expiry day, New York time."""

NEW_YORK = ZoneInfo("America/New_York")

_SYMBOL_LENGTH = ROOT_WIDTH + 6 + 1 + 8
_ROOT = re.compile(r"[A-Z0-9][A-Z0-9.]{0,5}")
OCC_FIRST_YEAR = 2000
OCC_LAST_YEAR = 2099
"""The years an OCC symbol's YYMMDD expiry can name."""

_SYMBOL = re.compile(r"(?P<root>[A-Z0-9][A-Z0-9. ]{5})(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})")


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed option series: ``multiplier`` units of ``underlying`` at ``strike`` until ``expiry``.

    ``multiplier`` is not part of the OCC symbol: ``parse`` gives the standard 100, as does
    ``contract_multiplier``. Raises ValueError on a contract no OCC symbol can name.
    """

    underlying: str
    expiry: date
    strike: float
    right: OptionRight
    multiplier: float = STANDARD_MULTIPLIER

    def __post_init__(self) -> None:
        if not _ROOT.fullmatch(self.underlying):
            raise ValueError(
                f"option underlying {self.underlying!r} is not an OCC root "
                f"(1 to {ROOT_WIDTH} characters: capital letters, digits and '.')"
            )
        if self.right not in ("C", "P"):
            raise ValueError(f"option right must be 'C' or 'P', got {self.right!r}")
        if not (math.isfinite(self.strike) and 0.0 < self.strike <= MAX_STRIKE):
            raise ValueError(f"option strike must be in (0, {MAX_STRIKE}], got {self.strike!r}")
        thousandths = self.strike * 1000.0
        if abs(thousandths - round(thousandths)) > 1e-6:
            raise ValueError(f"option strike {self.strike!r} is finer than the OCC's 0.001")
        if not OCC_FIRST_YEAR <= self.expiry.year <= OCC_LAST_YEAR:
            raise ValueError(f"option expiry {self.expiry.isoformat()} cannot be written as YYMMDD")
        if not (math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ValueError(f"option multiplier must be positive, got {self.multiplier!r}")

    @property
    def symbol(self) -> str:
        """The OCC symbol, root padded to six characters: ``"AAPL  120420P00550000"``."""
        strike = round(self.strike * 1000.0)
        return f"{self.underlying:<{ROOT_WIDTH}}{self.expiry:%y%m%d}{self.right}{strike:08d}"

    @property
    def expires_at(self) -> datetime:
        """The moment it stops trading: the regular close (16:00 New York) of its expiry day, in UTC.

        Early-close sessions are not looked up here (the model knows no calendar): on one the
        option still expires at the session close, a few hours of time value earlier than this.
        """
        return datetime.combine(self.expiry, EXPIRY_TIME, NEW_YORK).astimezone(UTC)

    def years_to_expiry(self, asof: datetime) -> float:
        """Calendar time left at ``asof`` in years of 365 days; 0 from the expiry on."""
        seconds = (self.expires_at - asof).total_seconds()
        return max(seconds, 0.0) / (365.0 * 86_400.0)

    def intrinsic(self, underlying_price: float) -> float:
        """What exercising it would be worth per unit of the underlying at ``underlying_price``."""
        if self.right == "C":
            return max(underlying_price - self.strike, 0.0)
        return max(self.strike - underlying_price, 0.0)

    @classmethod
    def parse(cls, symbol: str) -> OptionContract:
        """The contract an OCC symbol names; ValueError saying what is wrong with a malformed one."""
        if not isinstance(symbol, str):
            raise ValueError(f"an option symbol is a string, got {type(symbol).__name__}")
        match = _SYMBOL.fullmatch(symbol)
        if match is None:
            raise ValueError(
                f"{symbol!r} is not an OCC option symbol: expected the root padded to {ROOT_WIDTH} "
                "characters, expiry YYMMDD, C or P, and the strike x 1000 in 8 digits, "
                "e.g. 'AAPL  120420P00550000'"
            )
        root = match["root"].rstrip(" ")
        if " " in root:
            raise ValueError(f"{symbol!r} is not an OCC option symbol: the root {root!r} contains a space")
        ymd = match["ymd"]
        try:
            expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
        except ValueError:
            raise ValueError(
                f"{symbol!r} is not an OCC option symbol: {ymd} is not a date (YYMMDD)"
            ) from None
        strike = int(match["strike"]) / 1000.0
        if strike <= 0.0:
            raise ValueError(f"{symbol!r} is not an OCC option symbol: the strike is zero")
        right: OptionRight = "C" if match["right"] == "C" else "P"
        return cls(underlying=root, expiry=expiry, strike=strike, right=right)


@functools.lru_cache(maxsize=1 << 16)
def is_option_symbol(symbol: str) -> bool:
    """True when ``symbol`` is a well-formed OCC option symbol (the padded form). Remembered per
    symbol: sizing the cards asks it of every position for every candidate card."""
    if len(symbol) != _SYMBOL_LENGTH:  # the cheap answer for every stock symbol
        return False
    try:
        OptionContract.parse(symbol)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=1 << 16)
def contract_multiplier(symbol: str) -> float:
    """Units of the underlying one unit of ``symbol`` covers: 100 for an option, a known future's
    contract size (50 for ESZ26: its P&L is points x 50), 1 for anything else."""
    if is_option_symbol(symbol):
        return STANDARD_MULTIPLIER
    return future_multiplier(symbol)


MODEL_MIN_HALF_SPREAD = 0.025
"""The option model's half-spread, in premium per unit of the underlying: this much at least ..."""
MODEL_HALF_SPREAD_PCT = 0.01
"""... or this fraction of the model price when that is more."""


def model_half_spread(price: float) -> float:
    """Half the spread the paper option market quotes around a model price (and the cost model
    assumes for an option known only by its price): max(0.025, 1% of the price)."""
    return max(MODEL_MIN_HALF_SPREAD, MODEL_HALF_SPREAD_PCT * price)
