"""The paper broker's cash ledger knows a future's multiplier: one ES contract bought at 5,000
moves 250,000 of cash (5,000 x 50), and a 10-point rise is 500 of value, not 10."""

from __future__ import annotations

import pytest

from engine.brokers.base import BrokerPosition
from engine.model import Side
from tests.engine.brokers.test_paper import harness


async def test_a_future_moves_cash_by_its_multiplier() -> None:
    h = await harness(starting_cash=1_000_000.0)
    h.quote("ESZ26", bid=4_999.75, ask=5_000.00)
    await h.submit(Side.BUY, 2, symbol="ESZ26")
    h.quote("ESZ26", bid=4_999.75, ask=5_000.00)
    (fill,) = h.fills()
    assert fill.quantity == 2
    assert await h.broker.cash() == pytest.approx(1_000_000.0 - 2 * fill.price * 50 - fill.commission)
    assert await h.broker.positions() == [BrokerPosition("ESZ26", 2, fill.price)]
    h.quote("ESZ26", bid=5_009.75, ask=5_010.25, last=5_010.0)
    summary = h.broker.account_summary()
    assert summary.positions_value == pytest.approx(2 * 5_010.0 * 50)  # 501,000, not 10,020
