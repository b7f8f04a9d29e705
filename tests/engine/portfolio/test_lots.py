"""The lot book against hand-worked examples: lot methods, commissions, shorts, splits, dividends, options."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from engine.model.enums import Side
from engine.model.lots import HoldingTerm, LotMethod, holding_term
from engine.model.orders import Fill
from engine.portfolio.lots import LotBook

OPTION = "AAPL  240119C00150000"


def fill(
    exec_id: str, symbol: str, side: Side, qty: float, price: float, day: date, commission: float = 0.0
) -> Fill:
    # 15:00 UTC is 10:00/11:00 in New York: the trade date is ``day``.
    ts = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)
    return Fill(exec_id, f"c-{exec_id}", symbol, side, qty, price, commission, ts)


def three_lots(method: LotMethod = LotMethod.FIFO) -> LotBook:
    book = LotBook(method)
    book.apply_fill(fill("L1", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2)))
    book.apply_fill(fill("L2", "XYZ", Side.BUY, 100, 12.0, date(2024, 2, 1)))
    book.apply_fill(fill("L3", "XYZ", Side.BUY, 100, 11.0, date(2024, 3, 1)))
    return book


def assert_open(book: LotBook, expected: dict[str, tuple[float, float]]) -> None:
    """The open lots are exactly ``lot id -> (quantity, basis)``."""
    got = {lot.lot_id: (lot.quantity, lot.basis) for lot in book.open_lots()}
    assert got.keys() == expected.keys()
    for lot_id, (qty, basis) in expected.items():
        assert got[lot_id][0] == pytest.approx(qty)
        assert got[lot_id][1] == pytest.approx(basis)


SELL_150_AT_13 = fill("S1", "XYZ", Side.SELL, 150, 13.0, date(2024, 4, 1))


def test_fifo_closes_oldest_first() -> None:
    book = three_lots()
    closed = book.apply_fill(SELL_150_AT_13)
    # L1: 100 x (13 - 10) = 300; L2: 50 x (13 - 12) = 50; total 350.
    assert [(c.lot_id, c.quantity, c.gain) for c in closed] == [("L1", 100, 300.0), ("L2", 50, 50.0)]
    assert book.realized() == pytest.approx(350.0)
    assert_open(book, {"L2": (50, 12.0), "L3": (100, 11.0)})
    book.mark("XYZ", 14.0)
    # 50 x (14 - 12) + 100 x (14 - 11) = 100 + 300 = 400
    assert book.unrealized("XYZ") == pytest.approx(400.0)
    assert book.unrealized() == pytest.approx(400.0)


def test_hifo_closes_highest_basis_first() -> None:
    book = three_lots(LotMethod.HIFO)
    closed = book.apply_fill(SELL_150_AT_13)
    # L2 (12): 100 x 1 = 100; L3 (11): 50 x 2 = 100; total 200.
    assert [(c.lot_id, c.quantity, c.gain) for c in closed] == [("L2", 100, 100.0), ("L3", 50, 100.0)]
    assert_open(book, {"L1": (100, 10.0), "L3": (50, 11.0)})


def test_lifo_closes_newest_first() -> None:
    book = three_lots(LotMethod.LIFO)
    closed = book.apply_fill(SELL_150_AT_13)
    # L3: 100 x 2 = 200; L2: 50 x 1 = 50; total 250.
    assert sum(c.gain for c in closed) == pytest.approx(250.0)
    assert_open(book, {"L1": (100, 10.0), "L2": (50, 12.0)})


def test_specific_lots_in_the_order_named() -> None:
    book = three_lots()
    closed = book.apply_fill(SELL_150_AT_13, lots=["L3", "L1"])
    # L3: 100 x (13 - 11) = 200; L1: 50 x (13 - 10) = 150; total 350, leaving L1 50 and L2 100.
    assert [(c.lot_id, c.quantity, c.gain) for c in closed] == [("L3", 100, 200.0), ("L1", 50, 150.0)]
    assert_open(book, {"L1": (50, 10.0), "L2": (100, 12.0)})


def test_specific_lots_refused_when_unknown_or_short_of_the_fill() -> None:
    book = three_lots()
    with pytest.raises(ValueError, match="lots NOPE are not open long lots of XYZ"):
        book.apply_fill(SELL_150_AT_13, lots=["NOPE"])
    with pytest.raises(ValueError, match="cover 100 of 150"):
        book.apply_fill(SELL_150_AT_13, lots=["L1"])
    assert book.quantity("XYZ") == 300  # nothing was booked by the refused fills


def test_commissions_go_into_basis_and_reduce_proceeds() -> None:
    book = LotBook()
    book.apply_fill(fill("B", "XYZ", Side.BUY, 100, 50.0, date(2024, 1, 2), commission=1.0))
    (lot,) = book.open_lots()
    assert lot.basis == pytest.approx(50.01)  # 50 + 1 / 100
    (closed,) = book.apply_fill(fill("S", "XYZ", Side.SELL, 100, 55.0, date(2024, 2, 2), commission=1.0))
    # proceeds 100 x 55 - 1 = 5,499; basis 100 x 50.01 = 5,001; gain 498
    assert closed.proceeds == pytest.approx(5499.0)
    assert closed.basis == pytest.approx(5001.0)
    assert closed.gain == pytest.approx(498.0)
    assert closed.commission == pytest.approx(2.0)
    assert book.cash_flow == pytest.approx(498.0)  # -5,001 + 5,499
    assert book.pnl().commissions == pytest.approx(2.0)
    assert book.pnl().realized == pytest.approx(498.0)


def test_sell_beyond_the_long_opens_a_short_lot_then_cover() -> None:
    book = LotBook()
    book.apply_fill(fill("B1", "XYZ", Side.BUY, 100, 20.0, date(2024, 1, 2)))
    (closed,) = book.apply_fill(fill("S1", "XYZ", Side.SELL, 150, 22.0, date(2024, 1, 3), commission=1.5))
    # 100 of 150 close the long: commission 1.0 of it; gain 100 x 2 - 1 = 199
    assert closed.gain == pytest.approx(199.0)
    (short,) = book.open_lots()
    # the 50 left open short at 22 with commission 0.5: basis (net proceeds) 22 - 0.5 / 50 = 21.99
    assert (short.lot_id, short.quantity, short.is_long) == ("S1", -50, False)
    assert short.basis == pytest.approx(21.99)
    book.mark("XYZ", 21.0)
    assert book.unrealized() == pytest.approx(49.5)  # -50 x (21 - 21.99)
    (cover,) = book.apply_fill(fill("C1", "XYZ", Side.BUY, 50, 20.0, date(2024, 2, 1), commission=0.5))
    # proceeds of the short sale 50 x 21.99 = 1,099.50; cost to cover 50 x 20 + 0.5 = 1,000.50
    assert cover.proceeds == pytest.approx(1099.5)
    assert cover.basis == pytest.approx(1000.5)
    assert cover.gain == pytest.approx(99.0)
    assert cover.term is HoldingTerm.SHORT
    assert book.quantity("XYZ") == pytest.approx(0.0)
    assert book.open_lots() == []
    assert book.realized() == pytest.approx(298.0)  # 199 + 99
    assert book.cash_flow == pytest.approx(298.0)


def test_splits_two_for_one_then_three_for_two_then_sale() -> None:
    book = LotBook()
    book.apply_fill(fill("B", "XYZ", Side.BUY, 100, 90.0, date(2022, 1, 3)))
    book.mark("XYZ", 95.0)
    assert book.apply_split("XYZ", 2.0, date(2022, 3, 1)) == 1
    # 200 shares at 45: total basis 9,000 unchanged; the mark halves, so unrealized stays 500
    assert_open(book, {"B": (200, 45.0)})
    assert book.last("XYZ") == pytest.approx(47.5)
    assert book.unrealized() == pytest.approx(500.0)
    book.apply_split("XYZ", 1.5, date(2022, 6, 1))
    assert_open(book, {"B": (300, 30.0)})  # 200 x 1.5 = 300 at 45 / 1.5 = 30; still 9,000
    (lot,) = book.open_lots()
    assert lot.total_basis == pytest.approx(9000.0)
    assert lot.holding_start == date(2022, 1, 3)  # a split does not restart the holding period
    assert lot.adjustments == ("split x2 ex 2022-03-01", "split x1.5 ex 2022-06-01")
    (closed,) = book.apply_fill(fill("S", "XYZ", Side.SELL, 150, 40.0, date(2022, 8, 1)))
    # 150 x (40 - 30) = 1,500, short-term (held since 2022-01-03)
    assert closed.gain == pytest.approx(1500.0)
    assert closed.term is HoldingTerm.SHORT
    assert_open(book, {"B": (150, 30.0)})
    with pytest.raises(ValueError, match="applied already"):
        book.apply_split("XYZ", 1.5, date(2022, 6, 1))


def test_split_keeps_fractional_shares() -> None:
    book = LotBook()
    book.apply_fill(fill("B", "XYZ", Side.BUY, 33, 30.0, date(2022, 1, 3)))
    book.apply_split("XYZ", 1.5, date(2022, 3, 1))
    assert_open(book, {"B": (49.5, 20.0)})  # 33 x 1.5 = 49.5 at 30 / 1.5 = 20


def test_dividend_credited_to_strategies_pro_rata_and_paid_by_shorts() -> None:
    book = LotBook()
    book.apply_fill(fill("M", "XYZ", Side.BUY, 300, 10.0, date(2024, 1, 2)), strategy="mom", account="A")
    book.apply_fill(fill("C", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2)), strategy="carry", account="A")
    book.apply_fill(fill("H", "XYZ", Side.SELL, 40, 10.0, date(2024, 1, 2)), strategy="hedge", account="B")
    credits = book.apply_dividend("XYZ", 0.5, date(2024, 2, 1), pay_date=date(2024, 2, 15))
    # 0.50 per share: mom 300 -> 150, carry 100 -> 50 (3:1 like their shares), the short 40 pays 20
    assert {(c.strategy, c.amount) for c in credits} == {("mom", 150.0), ("carry", 50.0), ("hedge", -20.0)}
    by_strategy = book.pnl_by("strategy")
    assert by_strategy["mom"].dividends == pytest.approx(150.0)
    assert by_strategy["carry"].dividends == pytest.approx(50.0)
    assert by_strategy["hedge"].dividends == pytest.approx(-20.0)
    assert book.pnl_by("account")["A"].dividends == pytest.approx(200.0)
    assert book.cash_flow == pytest.approx(-3000 - 1000 + 400 + 180)


def test_fill_closes_its_own_strategy_lots_first() -> None:
    book = LotBook()
    book.apply_fill(fill("A1", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2)), strategy="a")
    book.apply_fill(fill("B1", "XYZ", Side.BUY, 50, 11.0, date(2024, 1, 3)), strategy="b")
    (closed,) = book.apply_fill(fill("S", "XYZ", Side.SELL, 50, 12.0, date(2024, 1, 4)), strategy="b")
    assert (closed.lot_id, closed.strategy, closed.gain) == ("B1", "b", 50.0)  # 50 x (12 - 11)
    # a manual sell ("" strategy) falls back to FIFO over the other strategies' lots
    (closed,) = book.apply_fill(fill("S2", "XYZ", Side.SELL, 30, 12.0, date(2024, 1, 5)))
    assert (closed.lot_id, closed.strategy, closed.gain) == ("A1", "a", 60.0)  # 30 x (12 - 10)
    assert book.pnl_by("strategy")["a"].realized == pytest.approx(60.0)


def test_option_lots_use_the_contract_multiplier() -> None:
    book = LotBook()
    book.apply_fill(fill("O1", OPTION, Side.BUY, 2, 3.50, date(2024, 1, 2), commission=1.30))
    (lot,) = book.open_lots()
    assert lot.multiplier == 100.0
    assert lot.basis == pytest.approx(3.5065)  # 3.50 + 1.30 / (2 x 100)
    book.mark(OPTION, 4.00)
    assert book.unrealized() == pytest.approx(98.7)  # 2 x (4.00 - 3.5065) x 100
    (closed,) = book.apply_fill(fill("O2", OPTION, Side.SELL, 1, 5.00, date(2024, 1, 9), commission=0.65))
    # proceeds 1 x 5.00 x 100 - 0.65 = 499.35; basis 1 x 3.5065 x 100 = 350.65; gain 148.70
    assert closed.proceeds == pytest.approx(499.35)
    assert closed.basis == pytest.approx(350.65)
    assert closed.gain == pytest.approx(148.70)


@pytest.mark.parametrize(
    ("bought", "sold", "term"),
    [
        (date(2023, 1, 10), date(2024, 1, 10), HoldingTerm.SHORT),  # 365 days: exactly one year
        (date(2023, 1, 10), date(2024, 1, 11), HoldingTerm.LONG),  # 366 days: more than one year
        (
            date(2023, 3, 1),
            date(2024, 3, 1),
            HoldingTerm.SHORT,
        ),  # 366 days over 29 Feb, still the anniversary
        (date(2023, 3, 1), date(2024, 3, 2), HoldingTerm.LONG),
        (date(2024, 2, 29), date(2025, 2, 28), HoldingTerm.SHORT),  # anniversary of 29 Feb is 28 Feb
        (date(2024, 2, 29), date(2025, 3, 1), HoldingTerm.LONG),
    ],
)
def test_holding_period_boundary(bought: date, sold: date, term: HoldingTerm) -> None:
    assert holding_term(bought, sold) is term
    book = LotBook()
    book.apply_fill(fill("B", "XYZ", Side.BUY, 10, 10.0, bought))
    (closed,) = book.apply_fill(fill("S", "XYZ", Side.SELL, 10, 11.0, sold))
    assert closed.term is term


def test_new_york_trade_date_for_late_utc_timestamps() -> None:
    book = LotBook()
    late = datetime(2024, 1, 11, 1, 30, tzinfo=UTC)  # 20:30 on 10 January in New York
    book.apply_fill(Fill("B", "c", "XYZ", Side.BUY, 1, 10.0, 0.0, late))
    assert book.open_lots()[0].holding_start == date(2024, 1, 10)


def test_day_pnl_from_the_start_of_day_mark() -> None:
    book = LotBook()
    book.apply_fill(fill("B", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2)))
    book.start_day({"XYZ": 10.5})  # yesterday's close
    book.mark("XYZ", 11.0)
    assert book.day_pnl() == pytest.approx(50.0)  # 100 x (11 - 10.5)
    book.apply_fill(fill("S", "XYZ", Side.SELL, 50, 12.0, date(2024, 1, 3), commission=1.0))
    # the 50 sold made 50 x (12 - 10.5) - 1 = 74; the 50 held 50 x (11 - 10.5) = 25: 99
    assert book.day_pnl() == pytest.approx(99.0)
    assert book.day_pnl("XYZ") == pytest.approx(99.0)
    assert book.pnl().day == pytest.approx(99.0)


def test_duplicate_exec_id_is_ignored_and_bad_fills_refused() -> None:
    book = LotBook()
    first = fill("B", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2))
    book.apply_fill(first)
    assert book.apply_fill(first) == ()
    assert book.quantity("XYZ") == 100
    with pytest.raises(ValueError, match="quantity must be positive"):
        book.apply_fill(fill("Z", "XYZ", Side.BUY, 0, 10.0, date(2024, 1, 2)))
    with pytest.raises(ValueError, match="price must be"):
        book.apply_fill(fill("N", "XYZ", Side.BUY, 1, float("nan"), date(2024, 1, 2)))


def test_positions_are_per_account() -> None:
    book = LotBook()
    book.apply_fill(fill("A", "XYZ", Side.BUY, 100, 10.0, date(2024, 1, 2)), account="ira")
    # a sale in another account cannot close the IRA's lot: it opens a short there
    book.apply_fill(fill("S", "XYZ", Side.SELL, 40, 11.0, date(2024, 1, 3)), account="taxable")
    assert book.quantity("XYZ", "ira") == 100
    assert book.quantity("XYZ", "taxable") == -40
    assert book.quantity("XYZ") == 60
    assert set(book.pnl_by_position()) == {("XYZ", "ira"), ("XYZ", "taxable")}


def test_mark_is_constant_time_over_a_thousand_positions() -> None:
    book = LotBook()
    symbols = [f"S{i:04d}" for i in range(1000)]
    for i, symbol in enumerate(symbols):
        for k in range(5):  # five lots each: 5,000 lots a rescan would visit
            book.apply_fill(fill(f"{symbol}-{k}", symbol, Side.BUY, 10 + k, 50.0 + k, date(2024, 1, 2 + k)))
        book.mark(symbol, 50.0 + i % 7)
    quotes = 20_000
    began = time.perf_counter()
    for q in range(quotes):
        book.mark(symbols[q % 1000], 50.0 + (q % 13) * 0.1)
    per_quote = (time.perf_counter() - began) / quotes
    assert per_quote < 1e-3  # measured ~1 microsecond
    # the incremental figure equals a full rescan of every lot
    rescan = sum(lot.unrealized(book.last(lot.symbol) or 0.0) for lot in book.open_lots())
    assert book.unrealized() == pytest.approx(rescan, rel=1e-9)
    by_symbol = book.pnl_by("symbol")
    assert sum(p.unrealized for p in by_symbol.values()) == pytest.approx(rescan, rel=1e-9)
