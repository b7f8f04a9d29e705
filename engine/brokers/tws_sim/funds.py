"""What an order asks of an account's available funds, in the account's base currency.

* A stock or option buy: its cost and commission (a sell: nothing).
* A future: the initial margin (``money.FUTURE_MARGINS``) of the contracts it adds to the
  position (none for a close) and its commission.
* A pair: the part of the currency it spends (the quote currency for a buy, the base currency
  for a sell) that the account does not hold, valued at the current rate, and its commission.
  The account may borrow that much, up to its available funds: a simple leverage-one rule.
"""

from __future__ import annotations

from engine.brokers.tws_sim.commission import CommissionSchedule, order_total
from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.ledger import Account
from engine.brokers.tws_sim.money import QuoteOf, exchange_rate, margin_of


def requirement(
    book: Account,
    spec: ContractSpec,
    action: str,
    quantity: float,
    price: float,
    schedule: CommissionSchedule,
    quote_of: QuoteOf,
) -> float:
    """Base-currency funds an order of ``quantity`` at ``price`` needs."""
    sign = 1.0 if action == "BUY" else -1.0
    rate = exchange_rate(spec.currency, book.base, quote_of) or 0.0
    value = quantity * price * spec.multiplier
    if spec.sec_type == "FUT":
        held = book.positions[spec.key].quantity if spec.key in book.positions else 0.0
        added = max(abs(held + sign * quantity) - abs(held), 0.0)
        return (added * margin_of(spec)[0] + order_total(schedule, "FUT", quantity, value)) * rate
    if spec.sec_type == "CASH":
        spent, amount = (spec.currency, value) if sign > 0 else (spec.symbol, quantity)
        borrowed = max(amount - max(book.balances.get(spent, 0.0), 0.0), 0.0)
        fee = order_total(schedule, "CASH", quantity, value * rate)
        return borrowed * (exchange_rate(spent, book.base, quote_of) or 0.0) + fee
    if sign < 0:
        return 0.0
    return (value + order_total(schedule, spec.sec_type, quantity, value)) * rate
