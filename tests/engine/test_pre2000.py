"""Any start date works (issue 18): data before 2000 through the cards and the replay.

An OCC option symbol writes its expiry as YYMMDD, so only 2000..2099 can be named; before 2000 the
options card is held back with that reason instead of raising (which used to stop the replay feed
from inside the quote handler and make ``onetap cards --asof 1999-11-01`` exit 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from console.cli import main
from engine.config import Settings, load_settings
from engine.data import calendar
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model.options import OptionContract
from engine.strategies.templates.base import Bars
from engine.strategies.templates.options import OPTIONS, option_legs, options_setup

START, END = date(1995, 1, 3), date(2000, 3, 31)


def _old_stock(path: Path) -> None:
    """A stock whose autumn 1999 turns up and wild: the options template's protective put fires then
    (an uptrend with 20-day volatility well above its 60-day), with an expiry in 1999."""
    days = calendar.sessions(START, END)
    wild = np.array([d >= date(1999, 9, 1) for d in days])
    rng = np.random.default_rng(1999)
    steps = rng.normal(np.where(wild, 0.004, 0.0004), np.where(wild, 0.03, 0.012))
    close = np.round(40.0 * np.exp(np.cumsum(steps)), 2)
    open_ = close
    high = np.round(close * 1.006, 2)
    low = np.round(close * 0.994, 2)
    volume = rng.integers(2_000_000, 6_000_000, len(days))
    pd.DataFrame(
        {
            "date": [d.isoformat() for d in days],
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    ).to_csv(path, index=False)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pre2000")
    _old_stock(root / "OLD.csv")
    cfg = root / "onetap.toml"
    cfg.write_text(
        f'[universe]\nsymbols = ["OLD"]\nsectors = {{ OLD = "Industrials" }}\n\n'
        f'[data]\nsource = "file"\npath = "{root / "OLD.csv"}"\n\n'
        '[replay]\nstart = "1999-10-01"\nend = ""\nsteps_per_day = 10\n',
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def settings(config: Path) -> Settings:
    return load_settings(config)


def test_an_option_expiring_before_2000_is_held_back_not_raised(settings: Settings) -> None:
    frame = load_market(settings).bars["OLD"]
    bars = Bars.from_frame("OLD", frame.loc[frame.index < np.datetime64("1999-10-05")])
    setup = options_setup(bars, OPTIONS.params(), "P")
    t = len(bars) - 1
    leg = setup.option(t)
    assert leg is not None and leg.expiry.year == 1999
    with pytest.raises(ValueError, match="cannot be written as YYMMDD"):
        OptionContract("OLD", leg.expiry, leg.strike, "P")  # what used to escape
    asof = datetime(1999, 10, 5, 14, 30, tzinfo=UTC)
    made = option_legs(setup, t, 100_000.0, {"OLD": float(bars.close[-1])}, {}, asof, True)
    assert made.legs == () and made.unavailable == "expiry_outside_occ_range"


def test_cards_asof_1999_works(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for asof in ("1999-11-01", "1999-10-05"):  # the date; a day the protective put fires
        assert main(["--config", str(config), "cards", "--asof", asof]) == 0
    out = capsys.readouterr().out
    assert "Strategy cards for 1999-10-05 (bars before it only)" in out
    assert "expiry_outside_occ_range" in out
    assert "data: 1 symbols (XNYS)" in out


@pytest.fixture
async def engine(settings: Settings, tmp_path: Path) -> AsyncIterator[Engine]:
    eng = Engine(settings, database=tmp_path / "onetap.db", market=load_market(settings), paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()


async def test_the_replay_keeps_running_through_1999_into_2000(engine: Engine) -> None:
    feed = engine.parts.feed
    played: list[date] = []
    while not played or played[-1].year < 2000:  # October 1999 .. January 2000, cards every session
        await engine.step_day()
        assert feed.current_day is not None
        played.append(feed.current_day)
    assert played[0] == date(1999, 10, 1) and played[-1].year == 2000
    notices = [n.message for n in engine.parts.outbox.recent_notices()]
    assert not any("replay feed stopped" in m or ("scan" in m and "failed" in m) for m in notices)
    assert engine.parts.cards._scan is not None and engine.parts.cards._scan[0] == played[-1]
