"""Cash in more than one currency: which currency a trade moves, and by how much (issue 20).

One rule, read by the engine's ledger and by the paper broker alike (so the two books agree to
the cent, in every currency): a fill moves cash in the instrument's **quote** currency (a Tokyo
stock's yen, USDJPY's yen, EURUSD's dollars, BTCUSD's dollars), and a currency pair moves its
**base** currency too, because the base amount is what was bought: buying EURUSD 100,000 at
1.1000 is +100,000 EUR and -110,000 USD. A commission is paid in the fill's currency.

A coin is a position, not a currency: BTCUSD bought is +BTC held (a position, marked and valued
like a stock) and -USD cash. BTC is no ISO currency a broker keeps a cash balance in, and no
conversion route runs through it; treating it as a position keeps its price risk where every
position's is (VaR, gross exposure, stops).

A pair's position is kept too (quantity and average rate, for its P&L, its stop and
reconciliation), but its value is its base-currency cash: equity counts the cash of every
currency converted into the account currency, plus the market value of every position that is
not a pair, so a pair is never counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.model.instruments import fx_pair


@dataclass(frozen=True, slots=True)
class Currencies:
    """Which currency each symbol trades in, for one account currency.

    ``listed``: symbol -> currency from the market's instruments (a user's instruments file says a
    Tokyo stock is in JPY); a symbol not listed is in its pair's quote currency when it is a pair,
    else in the account currency (a US stock, an option on one).
    """

    account: str = "USD"
    listed: Mapping[str, str] = field(default_factory=dict)

    def of(self, symbol: str) -> str:
        listed = self.listed.get(symbol)
        if listed:
            return listed
        pair = fx_pair(symbol)
        return pair[1] if pair is not None else self.account

    def base_of(self, symbol: str) -> str | None:
        """The base currency a pair symbol moves (EUR of EURUSD); None for anything else."""
        pair = fx_pair(symbol)
        return pair[0] if pair is not None and self.of(symbol) == pair[1] else None


def cash_moves(
    currency: str,
    base: str | None,
    signed_quantity: float,
    price: float,
    multiplier: float,
    commission: float,
) -> tuple[tuple[str, float], ...]:
    """(currency, amount) the fill adds to cash: the quote currency pays quantity x price x
    multiplier and the commission; a pair's base currency receives the quantity (both signed:
    a sale reverses them)."""
    quote = -(signed_quantity * price * multiplier) - commission
    if base is None:
        return ((currency, quote),)
    return ((currency, quote), (base, signed_quantity))
