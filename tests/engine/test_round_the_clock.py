"""A 24/7 (crypto) or 24/5 (FX) book: the daily-loss day rolls on a stated boundary and the
autopilot runs at a stated wall-clock time every day of its calendar, never at 15:55 New York."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.clock import SimulatedClock
from engine.config import AutopilotSettings, RiskSettings
from engine.data.calendar import NEW_YORK
from engine.model import AssetClass, Fill, Side, TradingState
from engine.model.day_boundary import DayBoundary, boundary_for
from engine.model.market import Instrument
from engine.portfolio.ledger import Ledger
from engine.portfolio.schedule import AutopilotSchedule, previous_session
from engine.risk.breakers import state_breaker
from engine.risk.gauges import risk_state
from engine.runtime.day_roll import DayRoller, universe_calendars

UTC_MIDNIGHT = DayBoundary.parse("00:00 UTC")
FX_5PM = DayBoundary.parse("17:00 America/New_York")


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# ------------------------------------------------------------------------------------ boundary
def test_the_day_boundary_names_each_day_by_the_date_it_starts() -> None:
    assert UTC_MIDNIGHT.day_of(utc(2026, 12, 5, 23, 59)) == date(2026, 12, 5)  # Saturday
    assert UTC_MIDNIGHT.day_of(utc(2026, 12, 6, 0, 0)) == date(2026, 12, 6)  # Sunday: a day for a coin
    # 17:00 New York is 22:00 UTC in December: 21:59 UTC Monday still belongs to Sunday's FX day
    assert FX_5PM.day_of(utc(2026, 12, 7, 21, 59)) == date(2026, 12, 6)
    assert FX_5PM.day_of(utc(2026, 12, 7, 22, 0)) == date(2026, 12, 7)
    assert FX_5PM.start_of(date(2026, 7, 6)) == utc(2026, 7, 6, 21, 0)  # summer: 21:00 UTC
    assert FX_5PM.next_after(utc(2026, 12, 7, 22, 0)) == utc(2026, 12, 8, 22, 0)


def test_bad_boundaries_are_named() -> None:
    with pytest.raises(ValueError, match="HH:MM Zone"):
        DayBoundary.parse("17:00")
    with pytest.raises(ValueError, match="'Mars/Olympus' is not a known time zone"):
        DayBoundary.parse("17:00 Mars/Olympus")
    with pytest.raises(ValueError, match="day_boundary"):
        RiskSettings(day_boundary="5pm New York")


def test_a_universe_states_its_boundary() -> None:
    coin = {"BTCUSD": Instrument("BTCUSD", asset_class=AssetClass.CRYPTO)}
    pair = {"EURUSD": Instrument("EURUSD", asset_class=AssetClass.FX)}
    stock = {"AAPL": Instrument("AAPL")}
    assert boundary_for("", universe_calendars(coin)) == UTC_MIDNIGHT
    assert boundary_for("", universe_calendars(pair | coin)) == FX_5PM
    assert boundary_for("", universe_calendars(stock)) is None  # the session's own day
    assert boundary_for("06:00 Asia/Tokyo", universe_calendars(stock)) == DayBoundary(
        time(6), ZoneInfo("Asia/Tokyo")
    )


# ------------------------------------------------------------------------------------ daily loss
def test_daily_loss_on_a_24x7_market_measures_from_the_stated_boundary_across_a_weekend() -> None:
    """A coin bought Friday; the loss limit 2%. The daily-loss baseline rolls at 00:00 UTC every
    day, Saturday and Sunday included, so Sunday's 2.5% drop halts on Sunday's own loss, and a day
    that only recovers does not count the previous day's loss."""
    clock = SimulatedClock(utc(2026, 12, 4, 12))  # Friday noon UTC
    led = Ledger(100_000.0)
    rolled: list[date] = []

    def start_day(day: date) -> None:
        led.start_day()
        rolled.append(day)

    roller = DayRoller.for_universe(
        "", {"BTCUSD": Instrument("BTCUSD", asset_class=AssetClass.CRYPTO)}, start_day
    )
    led.apply_fill(Fill("E1", "OT-1", "BTCUSD", Side.BUY, 1.0, 50_000.0, 0.0, clock.now()))

    def tick(at: datetime, price: float) -> float:
        clock.set(at)
        roller.check(clock.now())  # as the session driver does: before the step's marks
        led.mark("BTCUSD", price)
        return day_loss(led)

    assert tick(utc(2026, 12, 4, 12), 50_000.0) == 0.0  # adopts Friday, no roll
    assert tick(utc(2026, 12, 4, 23, 59), 49_000.0) == pytest.approx(1_000 / 100_000)
    assert tick(utc(2026, 12, 5, 0, 1), 49_000.0) == 0.0  # Saturday starts at 49,000
    assert tick(utc(2026, 12, 6, 0, 0), 49_500.0) == 0.0  # Sunday opens at Saturday's last mark, 49,000
    loss = tick(utc(2026, 12, 6, 18), 46_500.0)  # Sunday: -2,500 from Sunday's start
    assert loss == pytest.approx(2_500 / 99_000)
    assert rolled == [date(2026, 12, 5), date(2026, 12, 6)]
    risk = risk_state(
        led.account(),
        0.0,
        trading_state=TradingState.ACTIVE,
        halted_reason="",
        halted_at=None,
        gross_limit=5.0,
        daily_loss_limit_pct=0.02,
        drawdown_limit_pct=0.5,
        var_limit_pct=1.0,
    )
    trip = state_breaker(risk)
    assert trip is not None and "today's loss 2.53%" in trip.reason
    # an XNYS-day book would have measured Sunday's loss from Friday's session start (no session
    # on the weekend): 3,500 from 100,000 -- a different number, the one this test rules out
    assert loss != pytest.approx(3_500 / 100_000)


def test_a_stock_universe_keeps_the_session_day() -> None:
    roller = DayRoller.for_universe("", {"AAPL": Instrument("AAPL")}, lambda day: pytest.fail("rolled"))
    assert not roller.active
    assert roller.check(utc(2026, 12, 5, 0, 1)) is None


def day_loss(led: Ledger) -> float:
    account = led.account()
    return max(0.0, -account.day_pnl) / account.start_of_day_equity


# ------------------------------------------------------------------------------------ autopilot
CRYPTO = AutopilotSchedule(run_at=time(0, 5), zone=ZoneInfo("UTC"), calendar="24/7")
FX = AutopilotSchedule(run_at=time(16, 55), zone=NEW_YORK, calendar="24/5")


def test_a_24x7_autopilot_runs_every_day_at_its_stated_time_weekend_included() -> None:
    friday = utc(2026, 12, 4, 12)
    runs, at = [], friday
    for _ in range(4):
        at = CRYPTO.next_run(at)
        runs.append(at)
    assert runs == [
        utc(2026, 12, 5, 0, 5),
        utc(2026, 12, 6, 0, 5),
        utc(2026, 12, 7, 0, 5),
        utc(2026, 12, 8, 0, 5),
    ]
    assert all(r.astimezone(NEW_YORK).time() != time(15, 55) for r in runs)
    assert CRYPTO.due(utc(2026, 12, 5, 9), last_run_day=date(2026, 12, 4)) == date(2026, 12, 5)  # Saturday
    assert CRYPTO.due(utc(2026, 12, 5, 0, 4), last_run_day=date(2026, 12, 4)) is None  # before 00:05
    # the XNYS schedule would not run on that Saturday at all
    assert AutopilotSchedule().due(utc(2026, 12, 5, 20, 56), last_run_day=date(2026, 12, 4)) is None


def test_a_24x7_missed_run_is_each_whole_day_without_one() -> None:
    missed = CRYPTO.missed(date(2026, 12, 4), utc(2026, 12, 7, 3))
    assert missed == [date(2026, 12, 5), date(2026, 12, 6)]  # Monday's is due, not missed
    assert CRYPTO.close(date(2026, 12, 5)) == utc(2026, 12, 6)


def test_a_24x5_autopilot_skips_the_weekend_and_closes_with_the_fx_week() -> None:
    assert FX.next_run(utc(2026, 12, 4, 22)) == utc(2026, 12, 7, 21, 55)  # Friday evening -> Monday
    assert FX.close(date(2026, 12, 4)) == utc(2026, 12, 4, 22)  # Friday 17:00 New York
    assert FX.run_time(date(2026, 12, 4)) == utc(2026, 12, 4, 21, 55)
    with pytest.raises(ValueError, match="no 24/5 session"):
        FX.run_time(date(2026, 12, 5))


def test_the_autopilot_settings_name_the_calendar_and_zone() -> None:
    settings = AutopilotSettings(calendar="24/7", zone="UTC", run_at="00:05")
    assert (settings.calendar, settings.zone) == ("24/7", "UTC")
    with pytest.raises(ValueError, match="time zone name"):
        AutopilotSettings(zone="Nowhere/Town")
    with pytest.raises(ValueError, match="autopilot calendar"):
        AutopilotSchedule(calendar="XTKS")


def test_an_injected_clock_steps_the_roller_day_by_day_over_a_week() -> None:
    rolled: list[date] = []
    roller = DayRoller(UTC_MIDNIGHT, rolled.append)
    clock = SimulatedClock(utc(2026, 12, 1, 12))
    roller.check(clock.now())
    for _ in range(7 * 24):
        clock.set(clock.now() + timedelta(hours=1))
        roller.check(clock.now())
    assert rolled == [date(2026, 12, d) for d in range(2, 9)]  # seven days, none skipped


def test_the_autopilot_lookback_ends_on_the_previous_day_of_its_own_calendar() -> None:
    sunday, monday = date(2026, 12, 6), date(2026, 12, 7)
    assert previous_session("24/7", sunday) == date(2026, 12, 5)  # a coin's Saturday close
    assert previous_session("24/7", monday) == sunday
    assert previous_session("24/5", monday) == date(2026, 12, 4)
    assert previous_session("XNYS", monday) == date(2026, 12, 4)


def test_a_restart_after_the_boundary_rolls_at_once() -> None:
    """The day last rolled to is remembered; a restart on a later day starts a new loss day on its
    first step instead of measuring today's loss from the day before."""
    rolled: list[date] = []
    remembered: list[date] = []
    roller = DayRoller(UTC_MIDNIGHT, rolled.append, date(2026, 12, 4), remember=remembered.append)
    assert roller.check(utc(2026, 12, 4, 23)) is None  # still Friday: no roll
    assert roller.check(utc(2026, 12, 6, 9)) == date(2026, 12, 6)
    assert rolled == remembered == [date(2026, 12, 6)]
    first = DayRoller(UTC_MIDNIGHT, rolled.append, remember=remembered.append)
    assert first.check(utc(2026, 12, 7, 1)) is None  # a first start adopts, and remembers
    assert remembered[-1] == date(2026, 12, 7) and rolled == [date(2026, 12, 6)]
