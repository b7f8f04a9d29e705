"""The headless log: one line per event that matters, summaries for portfolio and risk updates,
three formats, levels, and size-based rotation."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.api.event_log import EventLog, LogOptions, resolve_format
from engine.model import AccountSnapshot, AlertCode, Fill, RiskState, Side, TradingState
from engine.model.events import FillEvent, NoticeEvent, PortfolioEvent, RiskAlert, RiskEvent

T0 = datetime(2012, 1, 3, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


def _account(equity: float) -> AccountSnapshot:
    return AccountSnapshot(
        cash=equity,
        equity=equity,
        gross_exposure=0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        day_pnl=equity - 100_000.0,
        start_of_day_equity=100_000.0,
        peak_equity=100_000.0,
    )


def _fill() -> FillEvent:
    return FillEvent(Fill("E1", "OT-000001", "AAPL", Side.BUY, 10.0, 101.5, 1.0, T0))


def test_portfolio_updates_are_summarised_per_market_interval_and_fills_are_not() -> None:
    out, clock = io.StringIO(), Clock()
    log = EventLog(LogOptions(summary_minutes=30.0), out=out, now=clock.now, environ={})
    for minute in range(90):  # 90 market minutes, an update each minute
        clock.t = T0 + timedelta(minutes=minute)
        log.write(PortfolioEvent(positions=(), account=_account(100_000.0 + minute)))
    log.write(_fill())
    log.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    summaries = [line for line in lines if line["event"] == "PortfolioEvent"]
    assert [s["updates"] for s in summaries] == [31, 30, 29]
    assert summaries[-1]["equity"] == 100_089.0, "a summary carries the latest values"
    fills = [line for line in lines if line["event"] == "FillEvent"]
    assert len(fills) == 1 and fills[0]["fill"]["price"] == 101.5 and fills[0]["level"] == "info"


def test_human_and_journald_formats_speak_words() -> None:
    clock = Clock()
    human = io.StringIO()
    log = EventLog(LogOptions(format="human"), out=human, now=clock.now, environ={})
    log.write(_fill())
    assert (
        human.getvalue() == "2012-01-03 15:00:00 INFO    FillEvent: OT-000001 BUY 10 AAPL @ 101.5 (fee 1)\n"
    )
    journal = io.StringIO()
    log = EventLog(LogOptions(format="auto"), out=journal, now=clock.now, environ={"JOURNAL_STREAM": "8:123"})
    log.write(RiskAlert(T0, AlertCode.HALTED, "error", "kill switch: test"))
    assert journal.getvalue() == "<3>RiskAlert: [HALTED] kill switch: test\n"
    assert resolve_format("auto", {}) == "json"


def test_the_level_filters_notices_and_drops_summaries_above_info() -> None:
    out, clock = io.StringIO(), Clock()
    log = EventLog(LogOptions(level="warning"), out=out, now=clock.now, environ={})
    log.write(NoticeEvent(T0, "info", "routine"))
    log.write(NoticeEvent(T0, "warning", "look at this"))
    log.write(RiskEvent(RiskState(TradingState.ACTIVE, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0)))
    log.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["event"], line["message"]) for line in lines] == [("NoticeEvent", "look at this")]


def test_a_log_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "engine.log"
    clock = Clock()
    log = EventLog(
        LogOptions(file=path, max_bytes=10_000, backups=2), out=io.StringIO(), now=clock.now, environ={}
    )
    for _ in range(300):
        log.write(_fill())
    log.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["engine.log", "engine.log.1", "engine.log.2"]
    assert all((path.parent / name).stat().st_size <= 10_000 for name in files)
    assert json.loads(path.read_text().splitlines()[0])["event"] == "FillEvent"
