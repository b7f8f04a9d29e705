"""Hourly and 15-minute bars played as quotes through their own open, high, low and close."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.data.intraday import IntradaySeries, read_intraday
from engine.data.intraday_replay import play_bars, quotes
from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec
from tests.engine.intraday.bars import every, walk, write


def _series(tmp_path: Path, freq: str, spec: InstrumentSpec, n: int, price: float) -> IntradaySeries:
    return read_intraday(write(tmp_path / "bars.csv", walk(every(freq, "2021-10-04", n), price=price)), spec)


@pytest.mark.parametrize(
    ("freq", "spec", "price", "steps"),
    [
        ("1h", InstrumentSpec.default("EURUSD", AssetClass.FX), 1.1, 6),
        ("15min", InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO), 40_000.0, 5),
    ],
)
def test_each_bar_is_played_through_its_ohlc(
    tmp_path: Path, freq: str, spec: InstrumentSpec, price: float, steps: int
) -> None:
    s = _series(tmp_path, freq, spec, 48, price)
    q = play_bars(s, steps=steps, seed=11)
    f = s.frame
    assert len(q.last) == 48 * steps
    last = q.last.reshape(48, steps)
    np.testing.assert_allclose(last[:, 0], f["open"].to_numpy())
    np.testing.assert_allclose(last[:, -1], f["close"].to_numpy())
    np.testing.assert_allclose(last.max(axis=1), f["high"].to_numpy())
    np.testing.assert_allclose(last.min(axis=1), f["low"].to_numpy())
    assert (q.bid <= q.last).all() and (q.last <= q.ask).all() and (q.bid < q.ask).all()
    ts = q.ts.reshape(48, steps)
    starts = s.starts.astype("datetime64[ms]")
    assert (ts[:, 0] == starts).all()
    assert (ts[:, -1] < starts + s.bar.delta).all()  # every quote within its own bar
    assert (np.diff(q.ts.astype(np.int64)) > 0).all()
    np.testing.assert_allclose(q.volume.reshape(48, steps)[:, -1], f["volume"].to_numpy())


def test_the_same_bar_replays_the_same_quotes_wherever_the_replay_starts(tmp_path: Path) -> None:
    s = _series(tmp_path, "15min", InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO), 20, 100.0)
    whole = play_bars(s, steps=4, seed=3)
    tail = play_bars(s, steps=4, seed=3, start=10)
    np.testing.assert_array_equal(whole.last[40:], tail.last)
    assert (tail.bar[:4] == 10).all()
    other = play_bars(s, steps=4, seed=4)
    assert not np.array_equal(whole.last, other.last)


def test_quotes_are_engine_quotes_in_utc(tmp_path: Path) -> None:
    s = _series(tmp_path, "1h", InstrumentSpec.default("EURUSD", AssetClass.FX), 3, 1.1)
    out = list(quotes(s, steps=4))
    assert len(out) == 12
    assert out[0].symbol == "EURUSD"
    assert out[0].ts == datetime(2021, 10, 4, 0, 0, tzinfo=UTC)
    assert out[1].ts == datetime(2021, 10, 4, 0, 15, tzinfo=UTC)
    assert out[0].last == pytest.approx(float(s.frame["open"].iloc[0]))


def test_too_few_steps_are_refused(tmp_path: Path) -> None:
    s = _series(tmp_path, "1h", InstrumentSpec.default("EURUSD", AssetClass.FX), 3, 1.1)
    with pytest.raises(ValueError, match="at least 4 quote steps"):
        play_bars(s, steps=3)
