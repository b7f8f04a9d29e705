"""FX cards on the desk, end to end (issue 20): the live card pipeline offers a basket of EURUSD
and USDJPY in micro lots; one key executes it through the paper broker (quantities in base
currency units); cash is kept per currency in the ledger and the broker alike; closing USDJPY
realizes yen, reported in dollars at the pair's rate (the old single cash book called them
dollars); a restart on the same SQLite file restores every currency's cash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.actor import Actor
from engine.config import Settings, load_settings
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model import CommandSource, Fill, OrderRequest, RefusalCode, Side, StrategyCard
from engine.model.day_boundary import round_the_clock_open
from engine.risk.pretrade import Limits, check_lots
from tests import fx_market

OPERATOR = Actor("alice", CommandSource.HOTKEY)
START_CASH = 1_000_000.0


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(fx_market.build(tmp_path_factory.mktemp("fx")).config, environ={})


async def _step_until(engine: Engine, wanted: Callable[[StrategyCard], bool], days: int) -> StrategyCard:
    """The first card offered that is ``wanted``, at a time the FX week is open."""
    for _ in range(days):
        await engine.step_day()
        await engine.settle()
        if not round_the_clock_open("24/5", engine.parts.clock.now()):
            continue  # a Friday evening: the desk's orders would be refused MARKET_CLOSED
        for card in engine.parts.cards.cards:
            if wanted(card):
                return card
    raise AssertionError(f"no card as wanted within {days} sessions")


def _basket(card: StrategyCard) -> bool:
    return {leg.symbol for leg in card.legs} == {"EURUSD", "USDJPY"}


def _signed(fills: list[Fill], symbol: str) -> list[tuple[float, float]]:
    return [(f.side.sign * f.quantity, f.price) for f in fills if f.symbol == symbol]


async def test_an_fx_basket_executes_with_cash_per_currency_and_yen_pnl_converted(
    settings: Settings, tmp_path: Path
) -> None:
    db = tmp_path / "onetap.db"
    engine = Engine(settings, database=db, market=load_market(settings), paced=False)
    await engine.start()
    card = await _step_until(engine, _basket, 60)
    assert card.template == "rotation"
    for leg in card.legs:  # whole micro lots of the base currency, bought
        assert leg.side is Side.BUY and leg.quantity >= 1_000 and leg.quantity % 1_000 == 0
    jpy_leg = next(leg for leg in card.legs if leg.symbol == "USDJPY")
    # a USDJPY unit is one dollar: its leg is sized like EURUSD's (tens of thousands of units),
    # not capital / 110 (a few hundred) as a dollar stock at 110 would be
    assert jpy_leg.quantity > 10_000

    result = await engine.parts.trading.execute_card(card.card_id, OPERATOR)
    assert result.ok, result.message
    await engine.step(10)
    fills = engine.store.load_fills()
    assert {(f.symbol, f.currency) for f in fills} == {("EURUSD", "USD"), ("USDJPY", "JPY")}
    eur, jpy = _signed(fills, "EURUSD"), _signed(fills, "USDJPY")
    assert sum(q for q, _ in eur) == next(leg.quantity for leg in card.legs if leg.symbol == "EURUSD")
    assert sum(q for q, _ in jpy) == jpy_leg.quantity

    # the commission by IDEALPRO's rule (0.2 bps of the dollar value, 2 USD an order at least),
    # each paid in the fill's quote currency: EURUSD's in dollars, USDJPY's in yen
    fees = dict(zip((f.exec_id for f in fills), fx_market.idealpro_fees(fills), strict=True))
    assert [f.commission for f in fills] == pytest.approx(list(fees.values()), rel=1e-12)
    fee_usd = sum(fees[f.exec_id] for f in fills if f.symbol == "EURUSD")
    fee_jpy = sum(fees[f.exec_id] for f in fills if f.symbol == "USDJPY")
    assert fee_usd >= fx_market.IDEALPRO_MIN_USD and fee_jpy > 0

    # hand-worked: EURUSD bought = +EUR, -USD (units x rate); USDJPY bought = +USD, -JPY
    want = {
        "USD": START_CASH - sum(q * p for q, p in eur) + sum(q for q, _ in jpy) - fee_usd,
        "EUR": sum(q for q, _ in eur),
        "JPY": -sum(q * p for q, p in jpy) - fee_jpy,
    }
    ledger, broker = engine.parts.ledger, engine.parts.broker
    assert ledger.cash_by_currency() == pytest.approx(want)
    assert broker.cash_balances() == pytest.approx(want)  # the paper broker's books agree
    account = ledger.account()
    by_currency = {b.currency: b for b in account.cash_by_currency}
    assert set(by_currency) == {"USD", "EUR", "JPY"}
    assert "via USDJPY^-1 (market view USDJPY mid" in by_currency["JPY"].note
    # equity: each currency's cash at its rate (a pair's value is its base cash, counted once)
    eur_rate, jpy_rate = ledger.rate("EUR"), ledger.rate("JPY")
    assert eur_rate is not None and jpy_rate is not None
    assert account.equity == pytest.approx(
        want["USD"] + want["EUR"] * eur_rate.rate + want["JPY"] * jpy_rate.rate
    )

    # close USDJPY with the desk's exit card: yen realized, converted into dollars
    exit_card = await _step_until(engine, lambda c: c.card_id.startswith("exit-USDJPY"), 10)
    result = await engine.parts.trading.execute_card(exit_card.card_id, OPERATOR)
    assert result.ok, result.message
    await engine.step(10)
    fills = engine.store.load_fills()
    jpy = _signed(fills, "USDJPY")
    assert sum(q for q, _ in jpy) == pytest.approx(0.0)
    jpy_fees = [
        fee for f, fee in zip(fills, fx_market.idealpro_fees(fills), strict=True) if f.symbol == "USDJPY"
    ]
    assert [f.commission for f in fills if f.symbol == "USDJPY"] == pytest.approx(jpy_fees, rel=1e-12)
    realized_jpy = -sum(q * p for q, p in jpy) - sum(jpy_fees)  # what the round trip left in yen
    assert ledger.realized("USDJPY") == pytest.approx(realized_jpy)
    assert ledger.cash_in("JPY") == pytest.approx(realized_jpy)
    rate = ledger.rate("JPY")
    assert rate is not None and rate.route == ("USDJPY^-1",)
    # EURUSD is still held: its realized P&L is its commission so far, in dollars
    assert ledger.realized("EURUSD") == pytest.approx(-fee_usd)
    assert ledger.account().realized_pnl == pytest.approx(realized_jpy * rate.rate - fee_usd)
    assert abs(realized_jpy) > 1_000  # a real amount of yen ...
    assert ledger.account().realized_pnl != pytest.approx(realized_jpy)  # ... not booked as dollars
    cash_before = ledger.cash_by_currency()
    await engine.stop()

    again = Engine(settings, database=db, market=load_market(settings), paced=False)
    await again.start()
    try:
        assert again.parts.ledger.cash_by_currency() == pytest.approx(cash_before)
        assert again.parts.broker.cash_balances() == pytest.approx(cash_before)
        assert again.parts.ledger.realized("USDJPY") == pytest.approx(realized_jpy)
        summary = again.reconciliation  # compared per currency at the start: the books agree
        assert summary is not None and set(again.parts.broker.cash_balances()) == {"USD", "EUR", "JPY"}
        assert summary.cash_differences == ()
    finally:
        await again.stop()


async def test_pre_trade_names_the_lot_and_tick_rules(settings: Settings, tmp_path: Path) -> None:
    engine = Engine(settings, database=tmp_path / "onetap.db", market=load_market(settings), paced=False)
    await engine.start()
    try:
        book = engine.parts.dispatcher.book_view()
        limits = Limits(
            max_order_value=1e9, max_order_quantity=1e9, max_position_pct=1.0, gross_exposure_limit=1.0
        )
        half = check_lots(OrderRequest("EURUSD", Side.BUY, 0.5), book, limits)
        assert half is not None and half.code is RefusalCode.BELOW_MIN_LOT
        assert half.message == "EURUSD: 0.5 is below the minimum lot 1"
        odd = check_lots(OrderRequest("EURUSD", Side.BUY, 1_000.5), book, limits)
        assert odd is not None and odd.code is RefusalCode.LOT_SIZE
        off = check_lots(
            OrderRequest("USDJPY", Side.BUY, 1_000, limit_price=110.0012), book, limits
        )  # USDJPY's tick is 0.001
        assert off is not None and off.code is RefusalCode.TICK_SIZE and "nearest 110.001" in off.message
        assert check_lots(OrderRequest("USDJPY", Side.BUY, 1_000, limit_price=110.001), book, limits) is None
        # the way out is never blocked by a lot rule
        assert check_lots(OrderRequest("EURUSD", Side.SELL, 0.5, reduce_only=True), book, limits) is None
    finally:
        await engine.stop()
