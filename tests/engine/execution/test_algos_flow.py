"""Order-flow timing of the algos (issue 20; off by default), on hand-made quotes through the real
paper broker, order manager and store (the ``Desk`` harness of ``test_algos``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from engine.execution.algos import AlgoParams, flow_lean
from engine.model import Algo, OrderType, Side
from tests.engine.execution.test_algos import MINUTE, T0, Desk, quote

ASK_HEAVY = {"bid_size": 100.0, "ask_size": 900.0}  # q = (100 - 900) / 1000 = -0.8
BID_HEAVY = {"bid_size": 900.0, "ask_size": 100.0}  # q = +0.8


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    d = await Desk(tmp_path).connect()
    yield d
    d.close()


def test_flow_lean_by_hand() -> None:
    """q = -0.8 leans against a buy (-1) and for a sell (+1, the price may run away from it);
    q = 0 (500 x 500) leans nowhere; no threshold: never."""
    ask_heavy = replace(quote(T0, 100.0), **ASK_HEAVY)
    assert flow_lean(0.3, Side.BUY, ask_heavy) == -1
    assert flow_lean(0.3, Side.SELL, ask_heavy) == 1
    assert flow_lean(0.3, Side.BUY, quote(T0, 100.0)) == 0
    assert flow_lean(None, Side.BUY, ask_heavy) == 0
    assert flow_lean(0.9, Side.BUY, ask_heavy) == 0


@pytest.mark.parametrize("timing", [None, 0.3])
async def test_a_twap_slice_waits_while_the_imbalance_leans_against_the_buy(
    desk: Desk, timing: float | None
) -> None:
    """TWAP of 3 slices over 15 minutes from T0: slices due at T0, T0+5, T0+10. The quotes at
    T0+5 and T0+6 are ask-heavy (q = -0.8): with timing 0.3 the second slice waits to T0+7, the
    first balanced quote; without timing it goes at T0+5. The last slice never waits."""
    await desk.feed(quote(T0, 100.0))
    params = AlgoParams(window_seconds=900, slices=3, max_participation=None, flow_timing=timing)
    await desk.start(Algo.TWAP, Side.BUY, 300, params)
    for k in range(1, 12):
        q = quote(T0 + k * MINUTE, 100.0)
        await desk.feed(replace(q, **ASK_HEAVY) if k in (5, 6, 10) else q)
    sent = [(s.at, s.request.quantity) for s in desk.sent]
    second = T0 + (7 if timing else 5) * MINUTE
    assert sent == [(T0, 100.0), (second, 100.0), (T0 + 10 * MINUTE, 100.0)]


async def test_limit_at_mid_goes_to_the_far_touch_while_the_price_may_run_away(desk: Desk) -> None:
    """A buy with timing 0.3 and a bid-heavy book (q = +0.8): the child is a limit at the ask
    (100.01) rather than the mid (100.00)."""
    await desk.feed(replace(quote(T0, 100.0), **BID_HEAVY))
    params = AlgoParams(max_participation=None, flow_timing=0.3)
    await desk.start(Algo.LIMIT_AT_MID, Side.BUY, 100, params)
    assert [(s.request.order_type, s.request.limit_price) for s in desk.sent] == [(OrderType.LMT, 100.01)]


def test_flow_timing_out_of_range_is_named() -> None:
    with pytest.raises(ValueError, match="flow_timing must be in"):
        AlgoParams(flow_timing=1.5)
