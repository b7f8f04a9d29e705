"""Reconnection timing: capped exponential backoff with seeded jitter, and the nightly window."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from engine.brokers.ibkr.connection import Backoff, ResetWindow


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    backoff = Backoff(base=0.5, cap=8.0, jitter=0.25, seed=3)
    delays = [backoff.next_delay() for _ in range(8)]
    raw = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    for delay, expected in zip(delays, raw, strict=True):
        assert expected <= delay <= min(8.0, expected * 1.25)
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 0.625


def test_backoff_jitter_is_seeded() -> None:
    a = [Backoff(seed=11).next_delay() for _ in range(3)]
    b = [Backoff(seed=11).next_delay() for _ in range(3)]
    assert a == b
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base=2.0, cap=1.0)


def test_nightly_window_wraps_past_midnight_in_new_york_time() -> None:
    window = ResetWindow.parse("23:45-00:45")
    assert window == ResetWindow(time(23, 45), time(0, 45))
    # 2012-11-27 04:50 UTC is 23:50 EST: inside, 55 minutes left
    inside = datetime(2012, 11, 27, 4, 50, tzinfo=UTC)
    assert window.contains(inside)
    assert window.seconds_left(inside) == pytest.approx(55 * 60)
    # summer (EDT): 03:50 UTC is 23:50 New York
    assert window.contains(datetime(2012, 7, 10, 3, 50, tzinfo=UTC))
    assert not window.contains(datetime(2012, 7, 10, 5, 0, tzinfo=UTC))  # 01:00 New York
    assert window.seconds_left(datetime(2012, 7, 10, 15, 0, tzinfo=UTC)) == 0.0
    assert ResetWindow.parse("") is None
