"""The seed's ETF rotation on the autopilot: live targets equal the research backtest's weights.

The engine runs the shipped ``config/etf-rotation.toml`` (factor ETFs, closes only, fractional
shares) over a replay, stepped by hand with 78 quote steps a session so a step lands on 15:55 New
York. Each session's run records the targets it decided with; the research backtest of the rotation
template over the same bars (``run_template`` with the autopilot's config) must hold exactly those
weights on those days, and the orders must have gone out in fractional shares.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.config import ConfigError, Settings, load_settings
from engine.data import calendar
from engine.data.shipped import ETF_SYMBOLS, load_shipped
from engine.desk.template_targets import template_weights
from engine.kernel import Engine
from engine.research.backtest import BacktestConfig, run_template
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars

CONFIG = Path(__file__).resolve().parents[2] / "config" / "etf-rotation.toml"
SESSIONS = 6


def _settings() -> Settings:
    return load_settings(
        CONFIG,
        environ={
            "ONETAP_REPLAY__STEPS_PER_DAY": "78",
            "ONETAP_REPLAY__START": '"2014-09-10"',  # the basket rolls on 09-15
            "ONETAP_CARDS__TEMPLATES": '["rotation"]',  # the cards are not under test: a shorter scan
        },
    )


async def test_the_autopilot_trades_the_rotation_backtests_weights(db: Path) -> None:
    settings = _settings()
    market = load_shipped([*ETF_SYMBOLS, settings.universe.benchmark])
    engine = Engine(settings, database=db, market=market, paced=False)
    await engine.start()
    try:
        await engine.step(1)  # the session's first quotes, hours before the run
        await engine.settle()
        first = engine.feed.current_day
        cached = engine.desk.targets._cache
        assert cached is not None and cached[0] == first, "targets worked out at the session's start"
        await engine.step_day()
        for _ in range(SESSIONS - 1):
            await engine.step_day()
        runs = [a.payload for a in engine.store.load_audit() if a.action == "autopilot_run"]
        orders = [o for o in engine.store.load_orders() if o.card_id.startswith("rebalance-autopilot-")]
        order_times = [o.created_at.astimezone(calendar.NEW_YORK) for o in orders]
    finally:
        await engine.stop()

    assert len(runs) == SESSIONS
    days = [date.fromisoformat(str(r["session_day"])) for r in runs]
    live: dict[date, dict[str, float]] = {}
    for day, run in zip(days, runs, strict=True):
        targets = run["targets"]
        assert isinstance(targets, dict)
        live[day] = {str(s): float(w) for s, w in targets.items()}
    assert all(live.values()), "every run read its targets"
    assert len({tuple(sorted(t)) for t in live.values()}) >= 2, "the basket rolled inside the replay"
    assert runs[0]["outcome"] == "rebalanced"

    # the research backtest over the same bars, through the last replayed session
    rotation = TEMPLATES["rotation"]
    params = rotation.params(settings.strategies["rotation"].parameters)
    panel = {s: Bars.from_frame(s, market.bars[s].loc[: str(days[-1])]) for s in ETF_SYMBOLS}
    bt = run_template(rotation, panel, params, BacktestConfig(fill="close", slots=1))
    rows = {date.fromisoformat(str(d)): i for i, d in enumerate(bt.dates)}
    for day in days:
        expected = {s: float(w) for s, w in zip(bt.symbols, bt.weights[rows[day]], strict=True) if w > 1e-9}
        assert set(live[day]) == set(expected), day
        for symbol, weight in expected.items():
            assert live[day][symbol] == pytest.approx(weight, rel=1e-12, abs=1e-12), (day, symbol)

    # sent at the run time, in fractional shares, through the rebalancer
    assert orders and all((t.hour, t.minute) == (15, 55) for t in order_times)
    assert any(o.quantity != round(o.quantity) for o in orders)
    assert all(round(o.quantity, 4) == o.quantity for o in orders)  # the rebalancer's 1/10,000 share


def test_targets_never_read_the_day_itself() -> None:
    market = load_shipped(list(ETF_SYMBOLS))
    mtum = market.bars["MTUM"]  # closes only: flat bars at the close, volume unknown (0)
    assert len(mtum) == 2_264 and market.instruments["MTUM"].asset_class == "ETF"
    assert (mtum["open"] == mtum["close"]).all() and (mtum["high"] == mtum["low"]).all()
    assert (mtum["volume"] == 0).all() and not market.report.errors
    day = date(2016, 6, 1)
    before = {s: f.loc[f.index < str(day)] for s, f in market.bars.items()}
    weights = template_weights("rotation", before, day, {"rebalance_days": 1.0})
    assert weights and 0.0 < sum(weights.values()) <= 0.95 + 1e-9
    with pytest.raises(ValueError, match="look-ahead"):
        template_weights("rotation", {s: f.loc[: str(day)] for s, f in market.bars.items()}, day)
    with pytest.raises(ValueError, match="long only"):
        template_weights("pairs", before, day)  # a pair is short one leg


def test_the_method_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    for good in ("rotation", "template:trend", "hrp"):
        path.write_text(f'[autopilot]\nmethod = "{good}"\n')
        assert load_settings(path).autopilot.method == good
    path.write_text('[autopilot]\nmethod = "template:nosuch"\n')
    with pytest.raises(
        ConfigError, match=r"\[autopilot\] method: expected one of .*rotation, template:momentum"
    ):
        load_settings(path)
