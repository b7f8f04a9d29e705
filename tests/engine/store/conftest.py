"""Every store test runs against a real SQLite file in its own temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.model import Order, Side
from engine.store import Store

T0 = datetime(2024, 3, 4, 14, 30, 0, 123456, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onetap.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path)
    yield s
    s.close()


def make_order(client_order_id: str, **changes: object) -> Order:
    order = Order(client_order_id=client_order_id, symbol="SPY", side=Side.BUY, quantity=10.0, created_at=T0)
    for name, value in changes.items():
        setattr(order, name, value)
    return order
