"""The engine on a market with a JPY index, a coin and a pair (issue 20): the daily-loss day
rolls at the universe's stated boundary (00:00 UTC with a coin), and an instrument whose
currency no quoted pair converts into the account currency is refused FX_RATE_MISSING."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, time
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model import OrderRequest, RefusalCode, Side
from engine.risk.pretrade import Limits, check_conversion
from engine.runtime.day_roll import DAY_ROLL_KEY
from tests import own_market


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    files = own_market.build(tmp_path_factory.mktemp("own"))
    base = load_settings(files.config, environ={"ONETAP_REPLAY__START": "2020-01-01"})
    universe = base.universe.model_copy(update={"symbols": ["N225", "GOLD", "BTCUSD"]})
    return base.model_copy(update={"universe": universe})


@pytest.fixture
async def engine(settings: Settings, tmp_path: Path) -> AsyncIterator[Engine]:
    eng = Engine(settings, database=tmp_path / "onetap.db", market=load_market(settings), paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()


async def test_a_coin_universe_rolls_its_loss_day_at_utc_midnight_and_a_yen_index_needs_a_rate(
    engine: Engine,
) -> None:
    roller = engine.parts.driver.day_roll
    assert roller.boundary is not None and roller.boundary.describe() == "00:00 UTC"
    assert roller.boundary.at == time(0)
    seen: list[date | None] = []
    for _ in range(5):  # from Wednesday 2020-01-01 over the weekend
        await engine.step_day()
        seen.append(roller.day)
        assert roller.day == roller.boundary.day_of(engine.parts.clock.now())
    assert date(2020, 1, 4) in seen and date(2020, 1, 5) in seen  # the coin's weekend days are days
    assert engine.store.get_state(DAY_ROLL_KEY) == str(roller.day)  # a restart knows it

    rates, problems = engine.parts.market.conversions()
    assert "BTCUSD" not in rates and "BTCUSD" not in problems  # quoted in dollars: no rate needed
    code, why = problems["N225"]
    assert code is RefusalCode.FX_RATE_MISSING and "JPY into USD" in why
    book = engine.parts.dispatcher.book_view()
    limits = Limits(
        max_order_value=1e9, max_order_quantity=1e9, max_position_pct=1.0, gross_exposure_limit=1.0
    )
    refused = check_conversion(OrderRequest("N225", Side.BUY, 1), book, limits)
    assert refused is not None and refused.code is RefusalCode.FX_RATE_MISSING
