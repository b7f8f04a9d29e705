"""The portfolio report's builder on a history small enough to work out by hand.

Two symbols in two sectors, a lot bought in 2022 and sold in the period (long term), a round of
buys, a partial sale (short term). Every expected figure below is written out in the comments.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from engine.actor import Actor
from engine.kernel import Engine
from engine.model import CommandSource, Fill, Leg, Order, Side, StrategyCard
from engine.model.codec import dumps, loads
from engine.model.events import ExecuteCard, GetPortfolioReport, PortfolioReportEvent
from engine.model.lots import ActionType, CorporateAction, HoldingTerm, TaggedFill
from engine.model.portfolio_report import AttributionLine, PeriodRisk, PortfolioReport
from engine.portfolio.report import CASH, build_portfolio_report, tag_fills

SECTORS = {"AAA": "Tech", "BBB": "Energy"}
DAYS = [date(2022, 12, 30), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
CLOSES = pd.DataFrame(
    {"AAA": [90.0, 100.0, 110.0, 105.0, 120.0], "BBB": [40.0, 50.0, 50.0, 55.0, 60.0]},
    index=pd.DatetimeIndex([pd.Timestamp(d) for d in DAYS]),
)
START, END = date(2024, 1, 2), date(2024, 1, 5)
OPERATOR = Actor("tester", CommandSource.HOTKEY)


def fill(n: int, day: date, symbol: str, side: Side, qty: float, price: float, commission: float) -> Fill:
    return Fill(
        f"x{n}", f"o{n}", symbol, side, qty, price, commission, datetime(*day.timetuple()[:3], 16, tzinfo=UTC)
    )


FILLS = [
    TaggedFill(fill(0, date(2022, 12, 30), "BBB", Side.BUY, 10, 40.0, 0.0), strategy="value"),
    TaggedFill(fill(1, date(2024, 1, 2), "AAA", Side.BUY, 10, 100.0, 1.0), strategy="momentum"),
    TaggedFill(fill(2, date(2024, 1, 2), "BBB", Side.BUY, 20, 50.0, 1.0), strategy="manual"),
    TaggedFill(fill(3, date(2024, 1, 4), "AAA", Side.SELL, 5, 106.0, 1.0), strategy="momentum"),
    TaggedFill(fill(4, date(2024, 1, 5), "BBB", Side.SELL, 10, 60.0, 0.0), strategy="value"),
]


def report(**kwargs: object) -> PortfolioReport:
    args: dict[str, object] = {
        "start": START,
        "end": END,
        "starting_cash": 10_000.0,
        "sectors": SECTORS,
        "universe": ("AAA", "BBB"),
    }
    args.update(kwargs)
    return build_portfolio_report(FILLS, CLOSES, **args)  # type: ignore[arg-type]


def totals(lines: tuple[AttributionLine, ...]) -> dict[str, float]:
    return {line.key: round(line.total, 6) for line in lines}


def test_the_equity_curve_is_cash_plus_positions_at_each_close() -> None:
    r = report()
    # opening: 10 BBB bought at 40 in 2022, marked at 40 -> 9,600 cash + 400
    assert r.start_equity == pytest.approx(10_000.0)
    # 01-02: cash 9,600 - 1,001 - 1,001 = 7,598; 10 AAA x 100 + 30 BBB x 50 = 2,500
    # 01-03: 1,100 + 1,500; 01-04: +529 cash, 5 x 105 + 30 x 55; 01-05: +600 cash, 5 x 120 + 20 x 60
    assert [p.day for p in r.equity_curve] == DAYS[1:]
    assert [round(p.equity, 6) for p in r.equity_curve] == [10_098.0, 10_198.0, 10_302.0, 10_527.0]
    assert [round(p.cash, 6) for p in r.equity_curve] == [7_598.0, 7_598.0, 8_127.0, 8_727.0]
    assert r.equity_curve[0].daily_return == pytest.approx(0.0098)
    assert r.equity_curve[3].daily_return == pytest.approx(10_527 / 10_302 - 1)
    assert all(p.drawdown == 0.0 for p in r.equity_curve)  # it only rose
    assert r.end_equity == pytest.approx(10_527.0)
    assert r.total_pnl == pytest.approx(527.0)
    assert r.fills == 4


def test_returns_come_from_the_curve() -> None:
    r = report()
    daily = np.array([p.daily_return for p in r.equity_curve])
    assert r.returns.total_return == pytest.approx(0.0527)
    assert r.returns.sessions == 4
    assert r.returns.daily_volatility == pytest.approx(float(np.std(daily, ddof=1)))
    assert r.returns.annualized_volatility == pytest.approx(float(np.std(daily, ddof=1)) * math.sqrt(252))
    assert r.returns.sharpe == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(252))
    assert r.returns.max_drawdown == 0.0
    assert r.returns.current_drawdown == 0.0


def test_attribution_by_strategy_symbol_and_sector_sums_to_the_total() -> None:
    r = report()
    # AAA: -1,001 + 529 (5 sold at 106 less 1) + 600 (5 at 120) = 128
    # BBB: value's lot 400 -> sold for 600 = 200; manual's 20: -1,001 + 1,200 = 199
    assert totals(r.by_symbol) == {"AAA": 128.0, "BBB": 399.0}
    assert totals(r.by_strategy) == {"manual": 199.0, "momentum": 128.0, "value": 200.0}
    assert totals(r.by_sector) == {"Energy": 399.0, "Tech": 128.0}
    for lines in (r.by_symbol, r.by_strategy, r.by_sector):
        assert math.fsum(line.total for line in lines) == pytest.approx(r.total_pnl)
    aaa = r.by_symbol[0]
    # realized before costs: 5 x (106 - 100) = 30; commissions paid in the period: 1 + 1
    assert aaa.realized == pytest.approx(30.0)
    assert aaa.commissions == pytest.approx(2.0)
    assert aaa.contribution == pytest.approx(128.0 / 10_000.0)


def test_realized_gains_split_by_holding_term() -> None:
    r = report()
    # AAA: 5 sold at 106 less 1 = 529 against a basis of 5 x (100 + 0.1) = 500.5 -> 28.5, short term
    # BBB: 10 bought 2022-12-30 at 40, sold 2024-01-05 at 60 -> 200, long term (over a year)
    assert r.realized.short_term == pytest.approx(28.5)
    assert r.realized.long_term == pytest.approx(200.0)
    assert (r.realized.short_count, r.realized.long_count) == (1, 1)
    assert r.realized.total == pytest.approx(228.5)
    terms = {lot.symbol: (lot.term, lot.strategy) for lot in r.realized.lots}
    assert terms == {"AAA": (HoldingTerm.SHORT, "momentum"), "BBB": (HoldingTerm.LONG, "value")}


def test_exposures_turnover_and_var_at_the_end() -> None:
    assert report().risk == PeriodRisk(var_95=None, var_95_share=None, observations=4)  # too few moves
    r = report(var_min_observations=4)
    e = r.exposures
    assert (e.long_value, e.short_value, e.gross_value, e.net_value) == (1_800.0, 0.0, 1_800.0, 1_800.0)
    assert e.cash == pytest.approx(8_727.0)
    assert e.cash_share == pytest.approx(8_727.0 / 10_527.0)
    assert e.gross_share == pytest.approx(1_800.0 / 10_527.0)
    assert {s.sector: s.net_value for s in e.sectors} == {"Energy": 1_200.0, "Tech": 600.0}
    # traded: 1,000 + 1,000 + 530 + 600 over the average of the four closes' equity
    assert r.traded_value == pytest.approx(3_130.0)
    assert r.average_equity == pytest.approx(41_125.0 / 4)
    assert r.turnover == pytest.approx(3_130.0 / (41_125.0 / 4))
    # VaR: the end book (600 AAA, 1,200 BBB) over each session's close-to-close move
    pnl = [
        600 * (100 / 90 - 1) + 1_200 * (50 / 40 - 1),
        600 * (110 / 100 - 1),
        600 * (105 / 110 - 1) + 1_200 * (55 / 50 - 1),
        600 * (120 / 105 - 1) + 1_200 * (60 / 55 - 1),
    ]
    assert r.risk.observations == 4
    assert r.risk.var_95 == pytest.approx(-float(np.percentile(pnl, 5)))


def test_brinson_effects_link_to_the_active_return() -> None:
    r = report()
    b = r.brinson
    assert b is not None
    assert b.days == 4
    assert "equal-weighted" in b.benchmark and "AAA, BBB" in b.benchmark
    # the portfolio side is the equity curve's own compounded return
    assert b.portfolio_return == pytest.approx(0.0527)
    # the benchmark: half AAA, half BBB, rebalanced daily
    daily = [
        0.5 * (100 / 90 - 1) + 0.5 * (50 / 40 - 1),
        0.5 * (110 / 100 - 1),
        0.5 * (105 / 110 - 1) + 0.5 * (55 / 50 - 1),
        0.5 * (120 / 105 - 1) + 0.5 * (60 / 55 - 1),
    ]
    assert b.benchmark_return == pytest.approx(math.prod(1 + x for x in daily) - 1)
    assert b.allocation + b.selection + b.interaction == pytest.approx(b.active_return, abs=1e-12)
    assert math.fsum(line.total for line in b.sectors) == pytest.approx(b.active_return, abs=1e-12)
    assert {line.sector for line in b.sectors} == {"Energy", "Tech", CASH}
    cash = next(line for line in b.sectors if line.sector == CASH)
    assert cash.benchmark_weight == 0.0 and cash.portfolio_weight > 0.7
    assert math.fsum(line.benchmark_weight for line in b.sectors) == pytest.approx(1.0)


def test_configured_benchmark_weights_are_stated() -> None:
    b = report(benchmark_weights={"AAA": 3.0, "BBB": 1.0}).brinson
    assert b is not None
    assert b.benchmark == "configured weights (AAA 75%, BBB 25%)"
    tech = next(line for line in b.sectors if line.sector == "Tech")
    assert tech.benchmark_weight == pytest.approx(0.75)
    assert b.allocation + b.selection + b.interaction == pytest.approx(b.active_return, abs=1e-12)


def test_a_dividend_is_credited_and_attributed() -> None:
    dividend = CorporateAction("BBB", ActionType.DIVIDEND, date(2024, 1, 3), 1.0)
    r = report(actions=[dividend])
    # 30 BBB held at the close of 01-02 receive 1.00 each on the 01-03 ex-date
    assert r.dividends_total == pytest.approx(30.0)
    assert [(d.symbol, d.amount) for d in r.dividends] == [("BBB", 30.0)]
    assert r.total_pnl == pytest.approx(557.0)
    assert math.fsum(line.total for line in r.by_strategy) == pytest.approx(557.0)
    b = r.brinson
    assert b is not None and b.portfolio_return == pytest.approx(10_557.0 / 10_000.0 - 1)


def test_a_later_start_opens_on_the_previous_close() -> None:
    r = report(start=date(2024, 1, 4))
    # the book at the 01-03 close: 7,598 cash + 2,600
    assert r.start_equity == pytest.approx(10_198.0)
    assert r.total_pnl == pytest.approx(10_527.0 - 10_198.0)
    assert math.fsum(line.total for line in r.by_symbol) == pytest.approx(r.total_pnl)
    assert [p.day for p in r.equity_curve] == [date(2024, 1, 4), date(2024, 1, 5)]


def test_bad_periods_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        report(start=END, end=START)
    with pytest.raises(ValueError, match="no trading session"):
        report(start=date(2023, 6, 1), end=date(2023, 6, 30))


def test_the_report_crosses_the_socket_unchanged() -> None:
    event = PortfolioReportEvent(
        report(actions=[CorporateAction("BBB", ActionType.DIVIDEND, date(2024, 1, 3), 1.0)])
    )
    assert loads(dumps(event)) == event


def test_fills_take_their_cards_template_and_manual_without_one() -> None:
    orders = [
        Order("o1", "AAA", Side.BUY, 10, card_id="c1"),
        Order("o2", "AAA", Side.BUY, 10, parent_id="o1"),
        Order("o3", "BBB", Side.BUY, 10),
        Order("o4", "BBB", Side.BUY, 10, card_id="gone"),
    ]
    cards = [
        StrategyCard(
            "c1",
            "momentum",
            "Momentum AAA",
            (Leg("AAA", Side.BUY, 10),),
            0.6,
            0.01,
            50.0,
            "test",
            datetime(2024, 1, 2, tzinfo=UTC),
        )
    ]
    fills = [fill(n, START, "AAA", Side.BUY, 1, 100.0, 0.0) for n in range(1, 5)]
    tagged = tag_fills([replace(f, client_order_id=f"o{i}") for i, f in enumerate(fills, 1)], orders, cards)
    assert [t.strategy for t in tagged] == ["momentum", "momentum", "manual", "manual"]


async def test_the_engine_publishes_the_report_of_its_own_book(engine: Engine) -> None:
    reports: list[PortfolioReportEvent] = []
    engine.bus.on((PortfolioReportEvent,), reports.append)
    await engine.step_day()
    card = next(c for c in engine.cards if c.legs[0].side is Side.BUY)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step_day()
    await engine.step(5)  # into the next session: today is marked at the live prices
    result = await engine.handle(GetPortfolioReport(), OPERATOR)
    assert result.ok, result.message
    await engine.step(0)  # let the worker finish
    (event,) = reports
    r = event.report
    assert r.end == engine.feed.current_day
    assert r.start == engine.store.load_fills()[0].ts.date()  # the first fill (later than January 1st)
    assert r.end_equity == pytest.approx(engine.ledger.equity, abs=1e-6)
    assert [line.key for line in r.by_strategy] == [card.template]
    assert math.fsum(line.total for line in r.by_symbol) == pytest.approx(r.total_pnl)
