"""Account values, portfolio lines and positions as the messages IB sends for them.

Shared by reqAccountUpdates (6/7), reqAccountUpdatesMulti (73), reqAccountSummary (63) and
reqPositions (61), so every view of an account shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.exchange import Exchange
from engine.brokers.tws_sim.ledger import Position
from engine.brokers.tws_sim.outgoing import Fields


def value_rows(exchange: Exchange, account: str) -> list[tuple[str, str, str]]:
    """(key, value, currency) of every account value, numbers with two decimals."""
    numbers = exchange.accounts[account].values(exchange.quote)
    rows = [("AccountCode", account, ""), ("AccountType", "INDIVIDUAL", ""), ("Currency", "USD", "USD")]
    rows += [(key, f"{value:.2f}", "USD") for key, value in numbers.items()]
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
    """accountSummary rows for the requested tags (``All`` or an empty set asks for everything)."""
    rows = [r for r in value_rows(exchange, account) if r[0] not in ("AccountCode", "Currency")]
    if tags and "All" not in tags:
        rows = [r for r in rows if r[0] in tags]
    return rows
