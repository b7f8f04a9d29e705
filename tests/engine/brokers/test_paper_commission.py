"""What the paper broker charges by asset class (issue 20), worked by hand with ``[broker]``'s
defaults: FX as IBKR IDEALPRO (0.2 bps of the value in the account currency, at least 2 USD an
order, converted into the quote currency the fill pays in), crypto 0.18% of the value (at least
1.75 USD), futures 0.85 USD a contract; shares and options as before (their tests are in
test_paper.py and test_paper_options.py, unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.brokers.base import BrokerReport, OrderFilled
from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.config import ConfigError, load_settings
from engine.model import Fill, Order, OrderStatus, OrderType, Quote, Side
from engine.model.cash import Currencies
from engine.model.enums import AssetClass
from tests.defaults import broker_settings

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday: FX and crypto both trade
START = 2_000_000.0


class Desk:
    """A connected paper broker with no slippage, quotes deep enough to fill any order at once."""

    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        settings = broker_settings(starting_cash=START, slippage_bps=0.0)
        self.broker = PaperBroker.from_settings(
            settings, self.clock, currencies=Currencies("USD"), asset_classes={"BTCUSD": AssetClass.CRYPTO}
        )
        self.reports: list[BrokerReport] = []
        self.broker.set_reporter(self.reports.append)
        self._n = 0

    def quote(self, symbol: str, bid: float, ask: float) -> None:
        self.clock.advance(timedelta(seconds=1))
        size = 1e9
        q = Quote(symbol, self.clock.now(), bid, ask, (bid + ask) / 2, size, size, size, size)
        self.broker.on_quote(q)

    async def buy(self, symbol: str, qty: float, bid: float, ask: float) -> Fill:
        """Buy ``qty`` at market against a ``bid``/``ask`` quote; its one fill."""
        await self.broker.connect()
        self.quote(symbol, bid, ask)
        self._n += 1
        order = Order(
            f"OT-{self._n}",
            symbol,
            Side.BUY,
            qty,
            OrderType.MKT,
            status=OrderStatus.SENT,
            created_at=self.clock.now(),
        )
        await self.broker.submit(order)
        self.quote(symbol, bid, ask)
        (fill,) = [
            r.fill
            for r in self.reports
            if isinstance(r, OrderFilled) and r.fill.client_order_id == order.client_order_id
        ]
        return fill


async def test_eurusd_pays_two_tenths_of_a_basis_point_in_dollars() -> None:
    desk = Desk()
    fill = await desk.buy("EURUSD", 100_000, bid=1.0999, ask=1.1000)
    assert (fill.quantity, fill.price, fill.currency) == (100_000, 1.10, "USD")
    assert fill.commission == pytest.approx(2.20, abs=1e-9)  # 110,000 USD x 0.00002
    assert desk.broker.cash_balances() == pytest.approx({"USD": START - 110_000.0 - 2.20, "EUR": 100_000.0})


async def test_a_small_fx_order_pays_the_two_dollar_minimum() -> None:
    desk = Desk()
    fill = await desk.buy("EURUSD", 10_000, bid=1.0999, ask=1.1000)
    assert fill.commission == pytest.approx(2.0)  # 11,000 x 0.00002 = 0.22 < 2 USD


async def test_usdjpy_pays_its_dollar_commission_in_yen_at_the_fill_rate() -> None:
    desk = Desk()
    fill = await desk.buy("USDJPY", 1_000_000, bid=149.99, ask=150.00)
    assert (fill.price, fill.currency) == (150.0, "JPY")
    # value 150,000,000 JPY = 1,000,000 USD at 150; x 0.00002 = 20 USD = 3,000 JPY
    assert fill.commission == pytest.approx(3_000.0)
    assert desk.broker.cash_balances() == pytest.approx(
        {"USD": START + 1_000_000.0, "JPY": -150_000_000.0 - 3_000.0}
    )
    small = await desk.buy("USDJPY", 10_000, bid=149.99, ask=150.00)
    assert small.commission == pytest.approx(2.0 * 150.0)  # 2 USD minimum = 300 JPY


async def test_a_cross_converts_its_value_at_the_brokers_rate_for_its_quote_currency() -> None:
    desk = Desk()
    desk.quote("GBPUSD", 1.2499, 1.2501)  # mid 1.25: 1 GBP = 1.25 USD
    fill = await desk.buy("EURGBP", 10_000, bid=0.8799, ask=0.8800)
    assert (fill.price, fill.currency) == (0.88, "GBP")
    # 8,800 GBP = 11,000 USD; x 0.00002 = 0.22 USD, so the 2 USD minimum = 2 / 1.25 = 1.60 GBP,
    # paid from the pound balance
    assert fill.commission == pytest.approx(1.60)
    assert desk.broker.cash_balances()["GBP"] == pytest.approx(-8_800.0 - 1.60)


async def test_a_coin_pays_a_percentage_of_its_value_with_a_minimum() -> None:
    desk = Desk()
    fill = await desk.buy("BTCUSD", 0.5, bid=59_990.0, ask=60_000.0)
    assert fill.commission == pytest.approx(54.0)  # 30,000 x 0.18%
    assert desk.broker.cash_balances() == pytest.approx({"USD": START - 30_000.0 - 54.0})
    tiny = await desk.buy("BTCUSD", 0.001, bid=59_990.0, ask=60_000.0)
    assert tiny.commission == pytest.approx(1.75)  # 60 x 0.18% = 0.108 < 1.75


async def test_a_future_pays_per_contract() -> None:
    desk = Desk()
    fill = await desk.buy("ESZ26", 2, bid=4_999.75, ask=5_000.00)
    assert fill.commission == pytest.approx(1.70)  # 2 x 0.85, whatever the 500,000 notional


async def test_a_stock_keeps_the_per_share_schedule() -> None:
    desk = Desk()
    fill = await desk.buy("AAPL", 1_000, bid=99.99, ask=100.00)
    assert fill.commission == pytest.approx(5.0)  # 1,000 x 0.005, as before issue 20


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "commission_fx_bps",
            "-0.2",
            "[broker] commission_fx_bps: Input should be greater than or equal to 0",
        ),
        ("commission_fx_min", '"two"', "[broker] commission_fx_min: Input should be a valid number"),
        (
            "commission_crypto_pct",
            "0.5",
            "[broker] commission_crypto_pct: Input should be less than or equal to 0.1",
        ),
        ("commission_future_per_contract", "-1", "[broker] commission_future_per_contract: Input should be"),
    ],
)
def test_a_bad_commission_key_is_named(tmp_path: Path, key: str, value: str, expected: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[broker]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}: {expected}")


def test_what_a_budget_affords_leaves_room_for_the_commission() -> None:
    """The most a budget buys, fee included, to the step: 30,000 USD of BTC at 60,000 is
    30,000 / (60,000 x 1.0018) = 0.4991016 BTC, not 0.5; 500,000 USD of ES at 5,000 (x50) is one
    contract, as two cost 500,001.70; 110,000 USD of EURUSD at 1.10 is 110,000 / (1.10 x 1.00002)."""
    fees = Desk().broker.fees
    btc = fees.affordable("BTCUSD", 30_000.0, 60_000.0, first=True, fractional=True)
    assert btc == pytest.approx(0.499101, abs=1e-9)
    assert fees.cost("BTCUSD", btc, 60_000.0, first=True) <= 30_000.0
    assert fees.cost("BTCUSD", btc + 1e-6, 60_000.0, first=True) > 30_000.0
    assert fees.affordable("ESZ26", 500_000.0, 5_000.0, first=True, fractional=True) == 1.0
    eur = fees.affordable("EURUSD", 110_000.0, 1.10, first=True, fractional=True)
    assert (
        fees.cost("EURUSD", eur, 1.10, first=True)
        <= 110_000.0 + 1e-6  # the broker's float tolerance (EPS)
        < fees.cost("EURUSD", eur + 1e-6, 1.10, first=True)
    )
    assert eur == pytest.approx(110_000.0 / (1.10 * 1.00002), abs=1e-6)  # the fee grows with the value
