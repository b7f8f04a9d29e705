"""Tax-loss harvesting and the wash-sale rule: window boundaries, proportional disallowance, substitutes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from engine.data.loader import MarketData
from engine.model.enums import Side
from engine.model.lots import HoldingTerm
from engine.model.orders import Fill
from engine.portfolio.lots import LotBook
from engine.portfolio.tax_loss import (
    WashSaleRules,
    apply_wash_sales,
    choose_substitute,
    detect_wash_sales,
    harvest_candidates,
    propose_harvests,
)

RULES = WashSaleRules(substantially_identical=[{"SPY", "IVV", "VOO"}])


def fill(exec_id: str, symbol: str, side: Side, qty: float, price: float, day: date) -> Fill:
    ts = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)
    return Fill(exec_id, f"c-{exec_id}", symbol, side, qty, price, 0.0, ts)


def loss_sale_book(sale_day: date = date(2024, 6, 3)) -> LotBook:
    """100 XYZ bought at 50 on 2 January, all sold at 40 on ``sale_day``: a loss of 1,000."""
    book = LotBook()
    book.apply_fill(fill("L1", "XYZ", Side.BUY, 100, 50.0, date(2024, 1, 2)))
    book.apply_fill(fill("S1", "XYZ", Side.SELL, 100, 40.0, sale_day))
    return book


@pytest.mark.parametrize(
    ("bought", "wash"),
    [
        (date(2024, 7, 3), True),  # 30 days after the 3 June sale: a wash
        (date(2024, 7, 4), False),  # 31 days after: clear
        (date(2024, 5, 4), True),  # 30 days before
        (date(2024, 5, 3), False),  # 31 days before
        (date(2024, 6, 3), True),  # the sale day itself
    ],
)
def test_wash_sale_window_boundaries(bought: date, wash: bool) -> None:
    book = LotBook()
    book.apply_fill(fill("L1", "XYZ", Side.BUY, 100, 50.0, date(2024, 1, 2)))
    book.apply_fill(fill("R1", "XYZ", Side.BUY, 100, 45.0, bought))
    # the sale names lot L1 (specific identification) so the replacement R1 stays the replacement
    book.apply_fill(fill("S1", "XYZ", Side.SELL, 100, 40.0, date(2024, 6, 3)), lots=["L1"])
    found = detect_wash_sales(book.realized_lots, book.acquisitions, RULES)
    assert bool(found) is wash
    if wash:
        assert found[0].disallowed == pytest.approx(1000.0)  # 100 x (50 - 40), all of it replaced


def test_partial_replacement_disallows_proportionally_and_carries_basis_and_holding() -> None:
    book = loss_sale_book()
    book.apply_fill(fill("R1", "XYZ", Side.BUY, 60, 42.0, date(2024, 6, 20)))
    (wash,) = detect_wash_sales(book.realized_lots, book.acquisitions, RULES)
    # 60 of the 100 shares replaced: 1,000 x 60 / 100 = 600 disallowed
    assert (wash.quantity, wash.loss, wash.disallowed) == pytest.approx((60.0, 1000.0, 600.0))
    # the sold lot was held 153 days (2 Jan to 3 Jun: 29 + 29 + 31 + 30 + 31 + 3): the replacement's
    # holding period starts 153 days before 20 June (20 + 31 + 30 + 31 + 29 + 12), on 19 January
    assert wash.holding_start == date(2024, 1, 19)
    (lot,) = apply_wash_sales(book, [wash])
    assert lot is not None
    assert lot.basis == pytest.approx(42.0)  # economic basis: P&L is not touched
    assert lot.tax_basis == pytest.approx(52.0)  # 42 + 600 / 60
    assert lot.holding_start == date(2024, 1, 19)
    (sale,) = book.realized_lots
    assert sale.gain == pytest.approx(-1000.0)
    assert sale.reportable_gain == pytest.approx(-400.0)  # only 40 of the 100 shares' loss allowed now
    book.mark("XYZ", 45.0)
    assert book.unrealized() == pytest.approx(180.0)  # 60 x (45 - 42): the loss is not counted twice
    (later,) = book.apply_fill(fill("S2", "XYZ", Side.SELL, 60, 45.0, date(2024, 8, 1)))
    # tax: 60 x 45 - (60 x 42 + 600) = 2,700 - 3,120 = -420 (the deferred loss comes back)
    assert later.gain == pytest.approx(180.0)
    assert later.basis_adjustment == pytest.approx(600.0)
    assert later.reportable_gain == pytest.approx(-420.0)
    assert later.term is HoldingTerm.SHORT  # 19 January to 1 August
    with pytest.raises(ValueError, match="applied already"):
        book.apply_wash_sale(wash)


def test_larger_replacement_splits_the_lot() -> None:
    book = loss_sale_book()
    book.apply_fill(fill("R1", "XYZ", Side.BUY, 150, 41.0, date(2024, 6, 10)))
    (wash,) = detect_wash_sales(book.realized_lots, book.acquisitions, RULES)
    assert wash.disallowed == pytest.approx(1000.0)  # all 100 sold shares replaced
    (piece,) = apply_wash_sales(book, [wash])
    assert piece is not None
    assert (piece.lot_id, piece.quantity) == ("R1/1", 100)
    assert piece.tax_basis == pytest.approx(51.0)  # 41 + 1,000 / 100
    rest = book.lot("R1")
    assert (rest.quantity, rest.tax_basis, rest.holding_start) == (50, 41.0, date(2024, 6, 10))


def test_substantially_identical_fund_is_a_replacement_but_a_different_one_is_not() -> None:
    book = LotBook()
    book.apply_fill(fill("L1", "SPY", Side.BUY, 10, 500.0, date(2024, 1, 2)))
    book.apply_fill(fill("S1", "SPY", Side.SELL, 10, 450.0, date(2024, 3, 1)))
    book.apply_fill(fill("Q1", "QQQ", Side.BUY, 10, 400.0, date(2024, 3, 2)))
    assert detect_wash_sales(book.realized_lots, book.acquisitions, RULES) == []
    book.apply_fill(fill("I1", "IVV", Side.BUY, 5, 455.0, date(2024, 3, 11)))
    (wash,) = detect_wash_sales(book.realized_lots, book.acquisitions, RULES)
    assert wash.replacement_symbol == "IVV"
    assert wash.disallowed == pytest.approx(250.0)  # 10 x (500 - 450) = 500 loss, x 5 / 10 replaced


def test_gains_and_shorts_are_never_wash_sales() -> None:
    book = LotBook()
    book.apply_fill(fill("L1", "XYZ", Side.BUY, 10, 10.0, date(2024, 1, 2)))
    book.apply_fill(fill("S1", "XYZ", Side.SELL, 10, 12.0, date(2024, 2, 1)))  # a gain
    book.apply_fill(fill("L2", "XYZ", Side.BUY, 10, 12.0, date(2024, 2, 5)))
    assert detect_wash_sales(book.realized_lots, book.acquisitions, RULES) == []


def test_blocked_by_a_buy_within_thirty_days_before() -> None:
    sale_day = date(2024, 3, 31)
    ivv_day_30 = fill("I1", "IVV", Side.BUY, 1, 500.0, date(2024, 3, 1))  # 30 days before
    reason = RULES.blocked("SPY", sale_day, [ivv_day_30])
    assert reason is not None
    assert "IVV bought on 2024-03-01 (30 days before 2024-03-31)" in reason
    assert "harvest from 2024-04-01" in reason
    ivv_day_31 = fill("I0", "IVV", Side.BUY, 1, 500.0, date(2024, 2, 29))  # 31 days before (leap year)
    assert RULES.blocked("SPY", sale_day, [ivv_day_31]) is None
    assert RULES.blocked("SPY", sale_day, [fill("Q", "QQQ", Side.BUY, 1, 1.0, date(2024, 3, 30))]) is None
    # the buy that opened the lot being harvested does not block its own sale
    own = fill("S0", "SPY", Side.BUY, 1, 500.0, date(2024, 3, 20))
    assert RULES.blocked("SPY", sale_day, [own], selling={"S0"}) is None
    assert RULES.repurchase_from(sale_day) == date(2024, 5, 1)


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="two symbols or more"):
        WashSaleRules(substantially_identical=[{"SPY"}])
    with pytest.raises(ValueError, match="window"):
        WashSaleRules(window_days=-1)


def test_harvest_candidates_thresholds() -> None:
    book = LotBook()
    book.apply_fill(fill("A", "XYZ", Side.BUY, 100, 50.0, date(2024, 1, 2)))  # at 40: loss 1,000 (20%)
    book.apply_fill(fill("B", "XYZ", Side.BUY, 10, 50.0, date(2024, 1, 3)))  # loss 100 (20%)
    book.apply_fill(fill("C", "XYZ", Side.BUY, 100, 42.0, date(2024, 1, 4)))  # loss 200 (4.8%)
    book.apply_fill(fill("D", "XYZ", Side.BUY, 10, 30.0, date(2024, 1, 5)))  # a gain
    book.apply_fill(fill("E", "ABC", Side.SELL, 10, 5.0, date(2024, 1, 5)))  # short: never harvested
    marks = {"XYZ": 40.0, "ABC": 9.0}

    def ids(min_loss: float | None = None, min_loss_pct: float | None = None) -> list[str]:
        found = harvest_candidates(book.open_lots(), marks, min_loss=min_loss, min_loss_pct=min_loss_pct)
        return [c.lot.lot_id for c in found]

    assert ids() == ["A", "C", "B"]  # largest loss first
    assert ids(min_loss=150.0) == ["A", "C"]
    assert ids(min_loss_pct=0.10) == ["A", "B"]
    assert ids(min_loss=150.0, min_loss_pct=0.10) == ["A"]
    with pytest.raises(ValueError, match="no mark for XYZ: cannot value lot A"):
        harvest_candidates(book.open_lots(), {"ABC": 9.0})


def closes(shipped: MarketData, symbols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({s: shipped.bars[s]["close"] for s in symbols})


def test_substitute_is_the_most_correlated_not_identical_candidate(shipped: MarketData) -> None:
    prices = closes(shipped, ["IBM", "AAPL", "MSFT", "GOOG", "AMZN"])
    asof = date(2012, 12, 31)
    # reference: pandas correlation of the last 252 daily returns up to asof
    window = prices.loc[: pd.Timestamp(asof)].tail(253).pct_change(fill_method=None).iloc[1:]
    corr = window.corr()["IBM"].drop("IBM").sort_values(ascending=False)
    first, second = corr.index[0], corr.index[1]
    pick = choose_substitute("IBM", ["AAPL", "MSFT", "GOOG", "AMZN"], prices, RULES, asof=asof)
    assert pick is not None
    assert pick[0] == first
    assert pick[1] == pytest.approx(corr.iloc[0])
    # declare the best one substantially identical to IBM: it is excluded, the runner-up chosen
    strict = WashSaleRules(substantially_identical=[{"IBM", str(first)}])
    again = choose_substitute("IBM", ["AAPL", "MSFT", "GOOG", "AMZN"], prices, strict, asof=asof)
    assert again is not None
    assert again[0] == second


def test_propose_harvests_end_to_end(shipped: MarketData) -> None:
    prices = closes(shipped, ["IBM", "AAPL", "MSFT", "GOOG"])
    day = date(2012, 12, 31)
    book = LotBook()
    book.apply_fill(fill("B1", "IBM", Side.BUY, 100, 215.0, date(2012, 10, 1)))
    book.apply_fill(fill("B2", "IBM", Side.BUY, 50, 200.0, date(2012, 12, 14)))  # also at a loss: sold too
    book.apply_fill(fill("B3", "IBM", Side.BUY, 1, 180.0, date(2012, 12, 20)))  # at a gain: kept, blocks
    mark = float(prices["IBM"].loc[pd.Timestamp(day)])  # 191.55
    history = [fill("B1", "IBM", Side.BUY, 100, 215.0, date(2012, 10, 1))]
    proposals = propose_harvests(
        book.open_lots(),
        {"IBM": mark},
        day,
        rules=RULES,
        history=history,
        prices=prices,
        substitutes=["AAPL", "MSFT", "GOOG"],
        min_loss=100.0,
    )
    assert [p.lot.lot_id for p in proposals] == ["B1", "B2"]
    top = proposals[0]
    assert top.loss == pytest.approx(100 * (215.0 - mark))
    assert top.repurchase_from == date(2013, 1, 31)  # 31 days after 31 December
    assert top.substitute in {"AAPL", "MSFT", "GOOG"}
    assert top.blocked is None  # B1's own buy is 91 days old
    # with the 20 December buy (kept, at a gain) in the history, the harvest would wash
    blocked = propose_harvests(
        book.open_lots(),
        {"IBM": mark},
        day,
        rules=RULES,
        history=[*history, fill("B3", "IBM", Side.BUY, 1, 180.0, date(2012, 12, 20))],
        min_loss=100.0,
    )
    assert blocked[0].blocked is not None
    assert "IBM bought on 2012-12-20 (11 days before 2012-12-31)" in blocked[0].blocked
    assert blocked[0].substitute is None  # no price frame given
