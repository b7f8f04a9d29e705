"""The research screen: opened from the desk on the highlighted card's template, a run on a short
window of the shipped data (IBM and MSFT, 2008-2012) drawn whole, and bad inputs as one line.

The runs are real (engine.research on the configured data), on a window small enough that the
backtest, walk-forward, 50 permutations and 2,000 Monte Carlo paths take about a second.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from rich.console import Console, RenderableType
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from console.app import OneTapApp
from console.screens.desk import DeskScreen
from console.screens.research import HORIZON, PATHS, PERMUTATIONS, SEED, TEST_DAYS, TRAIN_DAYS, ResearchScreen
from console.widgets.research import (
    BrailleChart,
    MetricsSection,
    MonteCarloSection,
    PermutationSection,
    WalkForwardSection,
    braille_lines,
)
from engine.config import Settings, load_settings
from engine.model import CommandSource
from engine.model.events import Kill
from tests.console.helpers import FakeClient, settle
from tests.console.test_widgets import card as plain_card
from tests.console.test_widgets import snapshot

CSS = Path(__file__).resolve().parents[2] / "console" / "app.tcss"


class Host(App[None]):
    """The research screen alone, on the default configuration (or ``settings``)."""

    CSS_PATH = CSS

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self._settings = settings or load_settings()

    def compose(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.push_screen(ResearchScreen(self._settings, "trend"))


def text_of(widget: Static, width: int = 160) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, widget.content))
    return console.export_text()


async def fill(pilot: Pilot[None], symbols: str, start: str, end: str) -> ResearchScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ResearchScreen)
    screen.query_one("#research-symbols", Input).value = symbols
    screen.query_one("#research-start", Input).value = start
    screen.query_one("#research-end", Input).value = end
    await pilot.pause()
    return screen


async def finished(pilot: Pilot[None], screen: ResearchScreen, timeout: float = 20.0) -> None:
    """Poll until the worker has handed its result (or its error) back to the screen."""
    deadline = time.monotonic() + timeout
    while screen.running and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert not screen.running, "the research run did not finish"
    await pilot.pause()


def test_braille_lines_span_the_range_and_fill_down_to_zero() -> None:
    lines = braille_lines([1.0, 2.0, 3.0, 4.0], 4, 2)
    assert len(lines) == 2 and all(len(line) == 4 for line in lines)
    assert all(0x2800 <= ord(c) <= 0x28FF for line in lines for c in line)
    assert lines[0][-1] != chr(0x2800) and lines[1][0] != chr(0x2800)  # rises left to right
    filled = braille_lines([0.0, -0.5, -1.0, 0.0], 2, 1, fill_to=0.0)
    assert filled[0][0] != chr(0x2800)
    assert braille_lines([], 10, 3) == [] and braille_lines([1.0], 0, 3) == []


async def test_a_run_draws_charts_metrics_walkforward_permutation_and_monte_carlo() -> None:
    app = Host()
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        screen = await fill(pilot, "IBM, msft", "2008-01-01", "2012-12-31")
        assert screen.query_one("#research-template", Select).value == "trend"
        await pilot.press("r")
        await finished(pilot, screen)
        assert screen.error is None and screen.result is not None
        assert screen.result.symbols == ("IBM", "MSFT")

        metrics = text_of(screen.query_one(MetricsSection))
        assert "trend" in metrics and "buy & hold" in metrics
        for label in ("Total return", "Sharpe", "Max drawdown", "Deflated Sharpe"):
            assert label in metrics
        walkforward = text_of(screen.query_one(WalkForwardSection))
        assert (
            "Windows" in walkforward and "OOS Sharpe" in walkforward and "Parameter stability" in walkforward
        )
        permutation = text_of(screen.query_one(PermutationSection))
        assert "Real Sharpe" in permutation and "p-value" in permutation
        montecarlo = text_of(screen.query_one(MonteCarloSection))
        assert "final (x)" in montecarlo and "max DD" in montecarlo and "P(loss)" in montecarlo

        equity = screen.query_one("#research-equity", BrailleChart)
        assert equity.series[0] == 1.0 and len(equity.series) > 1000
        drawn = str(equity.render())
        assert any(0x2801 <= ord(c) <= 0x28FF for c in drawn)
        assert max(screen.query_one("#research-drawdown", BrailleChart).series) <= 0.0
        stage = str(screen.query_one("#research-stage", Static).render())
        assert stage.startswith("done in")


@pytest.mark.slow
async def test_a_run_fans_out_on_the_configured_scheduler_and_gives_the_serial_result() -> None:
    """``[research] scheduler = "local"``: the screen's walk-forward, permutation and Monte Carlo
    run on a real Dask ``LocalCluster`` of 2 worker processes, started and stopped in its worker
    thread (the desk's loop never waits), with the serial path's results for the same seeds."""
    pytest.importorskip("distributed")
    from datetime import date

    from engine.research.runs import load_panel, run_montecarlo, run_permutation, run_walkforward

    base = load_settings()
    settings = base.model_copy(
        update={"research": base.research.model_copy(update={"scheduler": "local", "workers": 2})}
    )
    app = Host(settings)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        screen = await fill(pilot, "IBM,MSFT", "2008-01-01", "2012-12-31")
        await pilot.press("r")
        await finished(pilot, screen, timeout=120.0)
        assert screen.error is None and screen.result is not None
        result = screen.result
        assert result.where == "a local Dask cluster of 2 workers"
        assert "(a local Dask cluster of 2 workers)" in str(
            screen.query_one("#research-stage", Static).render()
        )
    panel = load_panel(base, ["IBM", "MSFT"], date(2008, 1, 1), date(2012, 12, 31))
    assert result.walkforward is not None and result.permutation is not None and result.montecarlo is not None
    wf = run_walkforward("trend", panel, train_days=TRAIN_DAYS, test_days=TEST_DAYS)[0]
    np.testing.assert_array_equal(result.walkforward[0].returns, wf.returns)
    perm = run_permutation("trend", panel, runs=PERMUTATIONS, seed=SEED)
    np.testing.assert_array_equal(result.permutation.null, perm.null)
    returns = result.run.backtest.returns[1:]
    assert result.montecarlo == run_montecarlo(
        returns, method="bootstrap", paths=PATHS, horizon=HORIZON, seed=SEED
    )


async def test_a_bad_date_is_one_line_and_runs_nothing() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await fill(pilot, "IBM,MSFT", "2008-13-01", "")
        await pilot.press("r")
        await pilot.pause()
        assert not screen.running and screen.result is None
        error = str(screen.query_one("#research-error", Static).render())
        assert error == "start '2008-13-01' is not a date (YYYY-MM-DD)"
        assert screen.query_one("#research-error").display


async def test_an_unknown_symbol_from_the_worker_is_one_line() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await fill(pilot, "IBM,ZZZ", "", "")
        screen.query_one("#research-symbols", Input).focus()
        await pilot.press("end", "z")  # a letter in a field is typed, never a key binding
        assert screen.query_one("#research-symbols", Input).value == "IBM,ZZZz"
        await pilot.press("backspace", "Z", "r")
        assert not screen.running and screen.result is None
        await pilot.press("backspace")
        await pilot.press("enter")  # Enter in a field runs too
        await finished(pilot, screen)
        error = str(screen.query_one("#research-error", Static).render())
        assert error.startswith("no data for ZZZZ") and "\n" not in error
        assert screen.result is None


async def test_b_on_the_desk_opens_research_on_the_highlighted_card_and_escape_returns() -> None:
    cards = (plain_card("C-1", "NVDA"), replace(plain_card("C-2", "AMD"), template="breakout"))
    client = FakeClient(replace(snapshot(), cards=cards))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResearchScreen)
        assert screen.query_one("#research-template", Select).value == "breakout"
        symbols = screen.query_one("#research-symbols", Input).value
        assert symbols == ",".join(load_settings().universe.symbols)
        await pilot.press("ctrl+k")  # the kill switch works here too
        await settle(pilot)
        assert Kill(source=CommandSource.HOTKEY) in client.sent
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DeskScreen)
