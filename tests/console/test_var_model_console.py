"""The risk detail screen's VaR model section: the method, the verdict in words, the exceedances chart."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import cast

from rich.console import Console, RenderableType

from console.app import OneTapApp
from console.screens import RiskDetailScreen
from console.widgets.risk_report import VarSection
from console.widgets.var_model import EXCEEDED, ModelVarSection, sparkline, verdict
from engine.model.events import RiskReportEvent
from engine.model.risk import RiskReport, VarBacktest, VarFigures
from tests.console.helpers import FakeClient, settle
from tests.console.risk_fixtures import risk_report, risk_snapshot

RECENT = (0.1, -0.3, 0.5, 1.4, 0.2, 0.9, 2.0, 0.0)


def backtests() -> tuple[VarBacktest, ...]:
    return (
        VarBacktest("evt_gjr", 0.95, 250, 19, 12.5, 0.07, 0.02, 0.01, 0.40, RECENT),
        VarBacktest("evt_gjr", 0.99, 250, 3, 2.5, 0.74, 0.79, 0.88, None, RECENT),
    )


def with_model(report: RiskReport) -> RiskReport:
    model = VarFigures("evt_gjr", 1_700.0, 2_300.0, 2_900.0, 3_600.0)
    return replace(report, var=(*report.var, model), var_method="evt_gjr", var_backtest=backtests())


def text(section: ModelVarSection) -> str:
    console = Console(width=160, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, section.content))
    return console.export_text()


def test_the_verdict_reads_in_words() -> None:
    fails, passes = (verdict(b).plain for b in backtests())
    assert passes == "passes at 99%: 3 exceedances vs 2.5 expected, Kupiec p=0.74, Christoffersen p=0.79"
    assert fails.startswith(
        "fails at 95%: 19 exceedances vs 12.5 expected, Kupiec p=0.07, Christoffersen p=0.02"
    )
    assert fails.endswith("ES p=0.40")


def test_the_sparkline_marks_each_exceedance() -> None:
    line = sparkline(RECENT)
    assert len(line.plain) == len(RECENT)
    assert [i for i, c in enumerate(line.plain) if c == EXCEEDED] == [3, 6]
    assert line.plain[0] == "▁" and line.plain[5] == "▇"


async def test_the_risk_detail_screen_shows_the_model_its_verdict_and_its_exceedances() -> None:
    client = FakeClient(risk_snapshot(report=risk_report()))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RiskDetailScreen)
        section = screen.query_one(ModelVarSection)
        assert not section.display  # the report names no model: nothing to show
        client.push(RiskReportEvent(with_model(risk_report())))
        await settle(pilot)
        assert section.display
        assert section.border_title == "VaR model: evt_gjr"
        shown = text(section)
        assert "EVT (GPD tail) on GJR-GARCH" in shown
        assert "1,700" in shown and "2,900" in shown and "2.90%" in shown
        assert "passes at 99%: 3 exceedances vs 2.5 expected, Kupiec p=0.74" in shown
        assert "fails at 95%" in shown
        assert f"last 8 days, loss / VaR 99%: {sparkline(RECENT).plain}" in shown
        classic = io.StringIO()
        Console(width=160, file=classic, color_system=None).print(
            cast(RenderableType, screen.query_one(VarSection).content)
        )
        assert "Monte Carlo" in classic.getvalue() and "evt_gjr" not in classic.getvalue()
