"""Futures expiry rules per root (engine.model.future_expiry via the roots of engine.model.instruments),
on known dates worked by hand from the CME Group contract specifications."""

from __future__ import annotations

from datetime import date

import pytest

from engine.model.future_expiry import last_trade_date, us_holidays
from engine.model.instruments import FUTURE_ROOTS, future_last_trade


@pytest.mark.parametrize(
    ("symbol", "last_day"),
    [
        # equity index: third Friday of March, June, September, December
        ("ESZ26", date(2026, 12, 18)),
        ("MESH27", date(2027, 3, 19)),
        ("NQU26", date(2026, 9, 18)),
        # Good Friday 21 March 2008 was the third Friday: the business day before
        ("ESH08", date(2008, 3, 20)),
        # CL: 3 business days before the 25th of the month before; 4 when the 25th is not one
        ("CLF27", date(2026, 12, 21)),  # 25 Dec 2026 is Christmas (a Friday): 24, 23, 22, 21
        ("CLF26", date(2025, 12, 19)),  # 25 Dec 2025 Christmas (Thursday): 24, 23, 22, 19
        ("CLZ26", date(2026, 11, 20)),  # 25 Nov 2026 a Wednesday: 24, 23, 20
        ("CLG26", date(2026, 1, 20)),  # 25 Jan 2026 a Sunday: 23, 22, 21, 20
        # GC: third-last business day of the contract month
        ("GCZ26", date(2026, 12, 29)),  # 31, 30, 29
        ("GCG27", date(2027, 2, 24)),  # 26, 25, 24
        ("GCQ26", date(2026, 8, 27)),  # 31 (Mon), 28 (Fri), 27
    ],
)
def test_last_trading_day_on_known_dates(symbol: str, last_day: date) -> None:
    assert future_last_trade(symbol) == last_day


def test_months_a_root_does_not_list_have_no_contract() -> None:
    """ES is quarterly (no January), GC trades its active months G J M Q V Z (no January), CL
    every month."""
    assert future_last_trade("ESF27") is None
    assert future_last_trade("GCF27") is None
    assert future_last_trade("CLK27") is not None
    assert [c for c in "FGHJKMNQUVXZ" if FUTURE_ROOTS["GC"].lists("FGHJKMNQUVXZ".index(c) + 1)] == list(
        "GJMQVZ"
    )
    assert future_last_trade("AAPL") is None


def test_us_holidays_of_2026_as_observed() -> None:
    """Independence Day falls on a Saturday in 2026: observed Friday 3 July; Good Friday 3 April."""
    days = us_holidays(2026)
    assert date(2026, 7, 3) in days and date(2026, 7, 4) not in days
    assert date(2026, 4, 3) in days
    assert date(2026, 11, 26) in days  # Thanksgiving
    assert date(2026, 12, 25) in days
    assert len(days) == 10


def test_an_unknown_rule_is_named() -> None:
    with pytest.raises(ValueError, match="unknown futures expiry rule 'weekly'"):
        last_trade_date("weekly", 2026, 12)
