"""VWAP's expected volume: how a session's volume is spread, and the session itself.

A VWAP sizes its slices by the share of the session's volume expected in each; the curve and
the session hours are injectable (``AlgoRunner``'s ``volume_curve`` and ``session_hours``).
"""

from __future__ import annotations

from datetime import datetime

from engine.execution.algos.callbacks import VolumeCurve
from engine.execution.algos.quantities import EPS


def replay_volume_curve(x: float) -> float:
    """Expected cumulative share of a session's volume traded by session fraction ``x``.

    The intraday volume onetap trades against is the replay's (``engine.data.replay.volume_path``):
    per-step weights ``(0.6 + 2.4 (2x - 1)^2)`` times seeded lognormal noise with the same
    distribution at every step, ``x`` the step's fraction of the session. The noise scales every
    step alike in expectation, so the expected share of the volume in ``[a, b]`` is the integral
    of the U-shaped density over ``[a, b]`` divided by its integral over ``[0, 1]`` (= 1.4);
    the continuous integral is the limit of the replay's per-step sum (off by at most one step).

    Why not the shipped history: it is daily bars, which carry no information at all about how
    volume is spread within a day; the replay invents the intraday spread with exactly this
    U shape, so this curve is the profile of the market the paper broker fills against. A live
    deployment should inject a curve estimated from intraday history instead (``AlgoRunner``'s
    ``volume_curve``).
    """
    x = min(max(x, 0.0), 1.0)
    return (0.6 * x + 0.4 * (2.0 * x - 1.0) ** 3 + 0.4) / 1.4


def volume_weights(
    start: datetime,
    window_seconds: float,
    slices: int,
    session: tuple[datetime, datetime] | None,
    curve: VolumeCurve = replay_volume_curve,
) -> tuple[float, ...]:
    """The expected share of the window's volume in each of ``slices`` equal intervals (sums to 1).

    Intervals outside the session get no volume. Without a known session, or for a window that
    lies entirely outside it, every interval gets the same share (VWAP degrades to TWAP rather
    than refusing to trade).
    """
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    equal = tuple(1.0 / slices for _ in range(slices))
    if session is None:
        return equal
    opens, closes = session
    length = (closes - opens).total_seconds()
    if length <= 0:
        return equal
    step = window_seconds / slices

    def at(k: int) -> float:
        return curve(((start - opens).total_seconds() + k * step) / length)

    raw = [max(at(k + 1) - at(k), 0.0) for k in range(slices)]
    total = sum(raw)
    if total <= EPS:
        return equal
    return tuple(w / total for w in raw)


def exchange_session(ts: datetime) -> tuple[datetime, datetime] | None:
    """The XNYS regular session of ``ts``'s New York day, or None (weekend, holiday, out of range).

    Imported lazily: the calendar is only needed once a VWAP (or a window to clip) starts.
    """
    from engine.data import calendar

    try:
        if not calendar.is_session(ts):
            return None
        return calendar.session_open_close(ts)
    except ValueError:
        return None
