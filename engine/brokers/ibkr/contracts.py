"""Forex pairs and futures between onetap's symbols and IB contracts (issue 20).

onetap names a currency pair by its six letters, base then quote (``EURUSD``; ``EUR.USD`` and
``EUR/USD`` are read too), and a future by its root, month code and two-digit year (``ESZ26``
for the December 2026 E-mini S&P 500). At IB a pair is ``Forex('EURUSD')``: ``secType CASH``,
``symbol`` the base currency, ``currency`` the quote currency, on ``IDEALPRO``; its quantities
are units of the base currency. A future is ``secType FUT`` with its contract month, exchange
and multiplier (50 for ES: one point is USD 50).

The currency list and the futures roots (exchange, multiplier, tick) are the instrument model's
(``engine.model.instruments``); this adapter only maps them to and from IB's contracts.
"""

from __future__ import annotations

from ib_insync import Contract, Forex, Future

from engine.model.instruments import (
    CURRENCIES,
    FUTURE_ROOTS,
    MONTH_CODES,
    FutureRoot,
    future_parts,
    fx_pair,
)

__all__ = [
    "CURRENCIES",
    "FUTURE_ROOTS",
    "MONTH_CODES",
    "FutureRoot",
    "contract_of",
    "future_parts",
    "fx_pair",
    "symbol_of",
]


def contract_of(symbol: str) -> Contract | None:
    """The IB contract of a pair or a future; None for anything else (stocks, options)."""
    pair = fx_pair(symbol)
    if pair is not None:
        return Forex(pair[0] + pair[1], exchange="IDEALPRO")
    parts = future_parts(symbol)
    if parts is not None:
        root, year, month = parts
        spec = FUTURE_ROOTS[root]
        return Future(
            root, f"{year}{month:02d}", spec.exchange, multiplier=f"{spec.multiplier:g}", currency="USD"
        )
    return None


def symbol_of(contract: Contract) -> str | None:
    """Our symbol of a CASH or FUT contract; None for other kinds."""
    if contract.secType == "CASH":
        base, quote = str(contract.symbol).upper(), str(contract.currency).upper()
        if not base or not quote:
            raise ValueError(f"IBKR sent a forex contract without its currencies: {contract!r}")
        return base + quote
    if contract.secType == "FUT":
        return _future_symbol(contract)
    return None


def _future_symbol(contract: Contract) -> str:
    """``ESZ26`` from the root and the contract month (the localSymbol's month code and year digit
    where it has them: a CL January contract stops trading in December of the year before)."""
    when = str(contract.lastTradeDateOrContractMonth)
    if len(when) < 6 or not when[:6].isdigit():
        raise ValueError(f"IBKR sent a future without its contract month: {contract!r}")
    year, month = int(when[:4]), int(when[4:6])
    local = str(contract.localSymbol).upper().replace(" ", "")
    root = str(contract.symbol).upper()
    if local.startswith(root) and len(local) == len(root) + 2 and local[-2] in MONTH_CODES:
        code_month = MONTH_CODES.index(local[-2]) + 1
        if code_month < month:
            year += 1  # the contract month lies after the last trading day's month
        month = code_month
    return f"{root}{MONTH_CODES[month - 1]}{year % 100:02d}"
