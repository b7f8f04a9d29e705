"""When a futures contract stops trading: each root's listing cycle and last-trading-day rule.

The rules are the exchanges' (CME Group contract specifications):

* ``quarterly_third_friday`` (ES, MES, NQ, MNQ): March, June, September, December (H, M, U, Z);
  trading terminates on the third Friday of the contract month (the business day before when
  that Friday is a holiday).
* ``cl`` (NYMEX light sweet crude): every month; trading terminates 3 business days before the
  25th calendar day of the month before the contract month, or 4 business days before it when
  the 25th is not a business day (CLF27: the 25th of December 2026 is Christmas, a Friday ->
  Monday 21 December 2026).
* ``third_last_business_day`` (COMEX gold): the active months February, April, June, August,
  October, December (G, J, M, Q, V, Z); trading terminates on the third-last business day of the
  contract month (CME: "the third last business day of the contract month"; the first notice
  day, when a long is asked to take delivery, falls at the end of the month before).

A business day is a weekday that is not a US exchange holiday (``us_holidays``: New Year's Day,
Martin Luther King Jr. Day, Presidents' Day, Good Friday, Memorial Day, Juneteenth from 2022,
Independence Day, Labor Day, Thanksgiving, Christmas; a Saturday holiday is observed on the
Friday before, a Sunday one on the Monday after, except New Year's Day on a Saturday, which is
not moved back into December). This is NYSE's full-holiday list, a close stand-in for CME Group's
settlement holidays; one-off closures (a national day of mourning) are not in it.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

RULES = ("quarterly_third_friday", "cl", "third_last_business_day")
"""The last-trading-day rules a futures root may name."""


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (Monday 0) of a month; ``n`` = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def third_friday(year: int, month: int) -> date:
    return _nth_weekday(year, month, 4, 3)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def us_holidays(year: int) -> frozenset[date]:
    """The US exchange full holidays of a year, as observed (see the module docstring)."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Presidents' Day
        _easter(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in us_holidays(day.year)


def business_days_before(day: date, count: int) -> date:
    """The business day ``count`` business days before ``day`` (``day`` itself not counted)."""
    current = day
    while count > 0:
        current -= timedelta(days=1)
        if is_business_day(current):
            count -= 1
    return current


def last_trade_date(rule: str, year: int, month: int) -> date:
    """The last trading day of the contract month ``year``-``month`` under ``rule``."""
    if rule == "quarterly_third_friday":
        friday = third_friday(year, month)
        return friday if is_business_day(friday) else business_days_before(friday, 1)
    if rule == "cl":
        before_year, before_month = (year - 1, 12) if month == 1 else (year, month - 1)
        the_25th = date(before_year, before_month, 25)
        return business_days_before(the_25th, 3 if is_business_day(the_25th) else 4)
    if rule == "third_last_business_day":
        month_end = date(year + month // 12, month % 12 + 1, 1)
        return business_days_before(month_end, 3)
    raise ValueError(f"unknown futures expiry rule {rule!r} (one of {', '.join(RULES)})")
