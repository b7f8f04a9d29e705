"""The VaR gauge reads the configured model (the one that passes its backtests) once a risk
report covers the book, and the 250-day historical figure before that."""

from __future__ import annotations

import pytest

from engine.actor import Actor
from engine.kernel import Engine
from engine.model import CommandSource, Side
from engine.model.events import ExecuteCard

OPERATOR = Actor("tester", CommandSource.HOTKEY)


async def test_the_gauge_follows_the_configured_model(engine: Engine) -> None:
    method = engine.settings.risk.var_method
    assert method and method != "historical"
    await engine.step_day()
    entry = next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)
    assert (await engine.handle(ExecuteCard(entry), OPERATOR)).ok
    await engine.step_day()
    report = await engine.refresh_risk_report()
    assert report is not None and report.var_method == method
    state = engine.parts.risk.risk_state()
    model = next(f for f in report.var if f.method == method)
    assert state.var_method == method
    held = {p.symbol: p.market_value for p in engine.ledger.positions(include_flat=False)}
    gross = sum(abs(v) for v in held.values())
    expected = model.var_95 * gross / report.gross_value / engine.ledger.account().equity
    assert state.var_95 == pytest.approx(expected)
