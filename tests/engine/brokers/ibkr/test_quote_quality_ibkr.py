"""Quote quality on the IBKR path: a crossed book and a bad print sent by the TWS simulator reach
the engine through the real ib_insync client and are held out exactly as on the replay."""

from __future__ import annotations

from engine.brokers.tws_sim import TwsSimulator
from engine.kernel import Engine
from engine.model import RefusalCode
from tests.engine.brokers.ibkr.test_engine_ibkr import engine, until

__all__ = ["engine"]  # the fixture, shared with the whole-engine IBKR tests


async def test_a_crossed_book_from_tws_is_held_out(engine: Engine, sim: TwsSimulator) -> None:
    market = engine.parts.market
    await until(lambda: "AAPL" in market.latest_quotes(), timeout=30.0)
    good = market.latest_quotes()["AAPL"]
    sim.set_quote("AAPL", good.ask + 0.50, good.ask, good.last, bid_size=500, ask_size=500)
    await until(lambda: "AAPL" in market.quotes.held_out(), timeout=30.0)
    flag = market.quotes.held_out()["AAPL"]
    assert flag.problem.value == "crossed"
    assert market.latest_quotes()["AAPL"].bid == good.bid, "the crossed book never became the price"
    code, why = market.quote_problems()["AAPL"]
    assert code is RefusalCode.BAD_QUOTE and "crossed" in why
    sim.set_quote("AAPL", good.bid, good.ask, good.last, bid_size=500, ask_size=500)
    await until(lambda: "AAPL" not in market.quotes.held_out(), timeout=30.0)
    assert engine.vitals().held_out == {}
