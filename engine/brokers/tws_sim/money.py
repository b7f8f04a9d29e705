"""Exchange rates and futures margins as the simulated broker uses them.

Rates come from the simulator's own forex quotes (the mid of a pair's top of book): a direct pair
(``EUR.USD`` for EUR into USD), its inverse (``USD.JPY`` for JPY into USD), or a cross through
one other currency (GBP into USD from ``EUR.GBP`` and ``EUR.USD``). A currency no quoted pair
reaches has no rate (``None``): the account reports its balance without converting it.

Margins are per contract, by futures root (``FUTURE_MARGINS``: initial, maintenance, in the
root's currency). They are round stand-ins of the order of CME Group's published outright
margins, not the exchange's figures of any day; a root without an entry cannot be traded.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.events import Quote

QuoteOf = Callable[[str], Quote | None]

FUTURE_MARGINS: dict[str, tuple[float, float]] = {
    "ES": (16_000.0, 14_500.0),
    "MES": (1_600.0, 1_450.0),
    "NQ": (24_000.0, 22_000.0),
    "MNQ": (2_400.0, 2_200.0),
    "CL": (6_500.0, 5_900.0),
    "GC": (11_000.0, 10_000.0),
}
"""Root -> (initial, maintenance) margin per contract."""


def margin_of(spec: ContractSpec) -> tuple[float, float]:
    """(initial, maintenance) margin of one contract of ``spec``; (0, 0) for what is not a future."""
    if spec.sec_type != "FUT":
        return 0.0, 0.0
    try:
        return FUTURE_MARGINS[spec.symbol]
    except KeyError:
        raise KeyError(f"the simulator has no margin for futures root {spec.symbol!r}") from None


def _mid(quote: Quote | None) -> float | None:
    if quote is None or quote.bid <= 0 or quote.ask <= 0:
        return None
    return (quote.bid + quote.ask) / 2.0


def _direct(currency: str, into: str, quote_of: QuoteOf) -> float | None:
    if currency == into:
        return 1.0
    mid = _mid(quote_of(f"{currency}.{into}"))
    if mid is not None:
        return mid
    inverse = _mid(quote_of(f"{into}.{currency}"))
    return 1.0 / inverse if inverse is not None else None


def exchange_rate(
    currency: str, into: str, quote_of: QuoteOf, via: tuple[str, ...] = ("USD", "EUR")
) -> float | None:
    """Units of ``into`` one unit of ``currency`` is worth now; None when no quote reaches it."""
    rate = _direct(currency, into, quote_of)
    if rate is not None:
        return rate
    for middle in via:
        if middle in (currency, into):
            continue
        first, second = _direct(currency, middle, quote_of), _direct(middle, into, quote_of)
        if first is not None and second is not None:
            return first * second
    return None
