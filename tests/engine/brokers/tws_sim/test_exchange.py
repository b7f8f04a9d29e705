"""The matching engine and books without sockets: events in the order the server sends them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.brokers.tws_sim.commission import order_total
from engine.brokers.tws_sim.contracts import ContractQuery, Universe
from engine.brokers.tws_sim.events import (
    BookChanged,
    Event,
    OrderChanged,
    OrderError,
    OrderFilled,
    Quote,
    QuoteChanged,
)
from engine.brokers.tws_sim.exchange import Exchange, ExchangeConfig
from engine.brokers.tws_sim.incoming import ExecFilter, OrderRequest
from tests.defaults import commissions

UNIVERSE = Universe()
T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def _exchange(**config: object) -> tuple[Exchange, list[Event]]:
    events: list[Event] = []
    return Exchange(ExchangeConfig(**config), events.append, lambda: T0), events  # type: ignore[arg-type]


def _request(order_id: int, action: str, qty: float, order_type: str = "MKT", lmt: float | None = None,
             aux: float | None = None, tif: str = "DAY") -> OrderRequest:  # fmt: skip
    return OrderRequest(
        order_id, ContractQuery(symbol="AAPL"), action, qty, order_type, lmt, aux, tif, "", "r", False
    )


def _place(ex: Exchange, request: OrderRequest, client_id: int = 1) -> None:
    spec = UNIVERSE.stock("AAPL")
    assert spec is not None
    ex.place(client_id, request, spec)


def test_fill_sequence_is_status_fill_then_book() -> None:
    ex, events = _exchange()
    ex.set_quote("AAPL", Quote(100.0, 100.02, 100.01))
    _place(ex, _request(1, "BUY", 10))
    kinds = [type(e) for e in events]
    assert kinds == [QuoteChanged, OrderChanged, OrderFilled, BookChanged]
    fill = events[2]
    assert isinstance(fill, OrderFilled)
    assert fill.order.status == "Filled" and fill.execution.price == 100.02
    assert fill.execution.exec_id == "0000e1a7.00000001.01.01"


def test_max_fill_per_quote_splits_an_order() -> None:
    ex, events = _exchange(max_fill_per_quote=40.0)
    ex.set_quote("AAPL", Quote(100.0, 100.02, 100.01))
    _place(ex, _request(1, "SELL", 100))
    ex.set_quote("AAPL", Quote(100.1, 100.12, 100.11))
    ex.set_quote("AAPL", Quote(100.2, 100.22, 100.21))
    fills = [e.execution for e in events if isinstance(e, OrderFilled)]
    assert [(f.shares, f.cum_qty, f.price) for f in fills] == [
        (40, 40, 100.0),
        (40, 80, 100.1),
        (20, 100, 100.2),
    ]
    assert ex.accounts["DU1234567"].positions["AAPL"].quantity == -100


def test_time_priority_shares_one_update_of_liquidity() -> None:
    ex, events = _exchange(fill_at_displayed_size=True)
    _place(ex, _request(1, "BUY", 80, "LMT", 100.0))
    _place(ex, _request(2, "BUY", 80, "LMT", 100.0))
    ex.set_quote("AAPL", Quote(99.9, 100.0, 99.95, ask_size=100))
    fills = [(e.execution.order_id, e.execution.shares) for e in events if isinstance(e, OrderFilled)]
    assert fills == [(1, 80), (2, 20)]


def test_duplicate_and_unknown_ids() -> None:
    ex, events = _exchange()
    ex.set_quote("AAPL", Quote(100.0, 100.02, 100.01))
    _place(ex, _request(5, "BUY", 1))
    _place(ex, _request(5, "BUY", 1))
    ex.cancel(1, 99)
    errors = [(e.order_id, e.code) for e in events if isinstance(e, OrderError)]
    assert errors == [(5, 103), (99, 10147)]
    assert ex.next_valid_id == 6


def test_same_order_id_from_two_clients_are_two_orders() -> None:
    ex, _ = _exchange()
    _place(ex, _request(1, "BUY", 1, "LMT", 90.0), client_id=1)
    _place(ex, _request(1, "BUY", 1, "LMT", 90.0), client_id=2)
    assert [(o.client_id, o.perm_id) for o in ex.open_orders()] == [(1, 1_000_001), (2, 1_000_002)]


def test_cash_check_counts_working_buys() -> None:
    ex, events = _exchange(cash=10_000.0)
    _place(ex, _request(1, "BUY", 60, "LMT", 100.0))
    _place(ex, _request(2, "BUY", 60, "LMT", 100.0))
    rejected = [e for e in events if isinstance(e, OrderError)]
    assert [(e.order_id, e.code) for e in rejected] == [(2, 201)]
    assert "Insufficient funds" in rejected[0].message


@pytest.mark.parametrize(
    ("qty", "price", "expected"),
    [(100, 100.0, 1.0), (1000, 100.0, 5.0), (10, 5.0, 0.5), (10_000, 50.0, 50.0)],
)
def test_commission_schedule(qty: float, price: float, expected: float) -> None:
    assert order_total(commissions(), "STK", qty, qty * price) == pytest.approx(expected)


def test_execution_filter_by_time_and_side() -> None:
    ex, _ = _exchange()
    ex.set_quote("AAPL", Quote(100.0, 100.02, 100.01))
    _place(ex, _request(1, "BUY", 1))
    _place(ex, _request(2, "SELL", 1))
    assert [e.side for e in ex.query_executions(ExecFilter(side="BUY"), None)] == ["BOT"]
    assert len(ex.query_executions(ExecFilter(), T0)) == 2
    assert ex.query_executions(ExecFilter(), datetime(2024, 1, 3, tzinfo=UTC)) == []


def test_market_order_without_a_quote_rests_until_the_first_quote() -> None:
    ex, events = _exchange()
    _place(ex, _request(1, "BUY", 5))
    assert [o.order_id for o in ex.open_orders()] == [1]
    ex.set_quote("AAPL", Quote(50.0, 50.05, 50.02))
    fills = [e.execution for e in events if isinstance(e, OrderFilled)]
    assert [(f.shares, f.price) for f in fills] == [(5, 50.05)]
    assert ex.open_orders() == []
