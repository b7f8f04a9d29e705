"""Account values, portfolio lines and positions as the messages IB sends for them.

Shared by reqAccountUpdates (6/7), reqAccountUpdatesMulti (73), reqAccountSummary (63) and
reqPositions (61), so every view of an account shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.exchange import Exchange
from engine.brokers.tws_sim.ledger import LEDGER_TAGS, Position
from engine.brokers.tws_sim.outgoing import Fields


def value_rows(exchange: Exchange, account: str) -> list[tuple[str, str, str]]:
    """(key, value, currency) of every account value, numbers with two decimals (exchange rates
    with eight significant digits): the summary in the base currency's code, then the ledger of
    each currency held and of BASE, as TWS sends them."""
    book = exchange.accounts[account]
    rows = [("AccountCode", account, ""), ("AccountType", "INDIVIDUAL", "")]
    rows += [("Currency", ccy, ccy) for ccy in sorted(book.balances)] + [("Currency", "BASE", "BASE")]
    rows += [(key, f"{value:.2f}", book.base) for key, value in book.values(exchange.quote).items()]
    rows += [
        (tag, f"{value:.8g}" if tag == "ExchangeRate" else f"{value:.2f}", ccy)
        for tag, value, ccy in book.ledger(exchange.quote)
    ]
    return rows


def account_values(exchange: Exchange, account: str) -> list[Fields]:
    return [outgoing.account_value(k, v, c, account) for k, v, c in value_rows(exchange, account)]


def portfolio_line(exchange: Exchange, account: str, pos: Position) -> Fields:
    book = exchange.accounts[account]
    price, value = book.market_value(pos, exchange.quote)
    unrealized = value - pos.quantity * pos.avg_cost
    return outgoing.portfolio_value(
        pos.spec, pos.quantity, price, value, pos.avg_cost, unrealized, pos.realized_pnl, account
    )


def portfolio_lines(exchange: Exchange, account: str, keys: Iterable[str] | None = None) -> list[Fields]:
    """updatePortfolio for the given positions (all held or once-held ones when ``keys`` is None)."""
    positions = exchange.accounts[account].positions
    chosen = positions.values() if keys is None else [positions[k] for k in keys if k in positions]
    return [portfolio_line(exchange, account, p) for p in chosen]


def summary_rows(exchange: Exchange, account: str, tags: set[str]) -> list[tuple[str, str, str]]:
    """accountSummary rows for the requested tags (``All`` or an empty set asks for everything).

    ``$LEDGER`` asks for the ledger in BASE, ``$LEDGER:EUR`` for one currency's, ``$LEDGER:ALL``
    for every currency's and BASE."""
    rows = [r for r in value_rows(exchange, account) if r[0] not in ("AccountCode", "Currency")]
    if not tags or "All" in tags:
        return rows
    ledger = set(LEDGER_TAGS)
    wanted = {t.split(":", 1)[1].upper() if ":" in t else "BASE" for t in tags if t.startswith("$LEDGER")}
    return [
        r
        for r in rows
        if (r[0] in tags and not (r[0] in ledger and r[2] != exchange.accounts[account].base))
        or (r[0] in ledger and ("ALL" in wanted or r[2] in wanted))
    ]
