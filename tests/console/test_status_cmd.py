"""``onetap status``: the verdict and its exit code against a real engine serving its socket.

Real parts: an engine on the shipped data (SQLite under tmp_path) serving its real socket in this
test's loop; the command runs in a thread (the in-process checks) or as a child process (the fast
path's light imports and its time).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.status_cmd import report
from engine.actor import Actor
from engine.api.socket_server import serve
from engine.config import load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine
from engine.model import AccountSnapshot, CommandSource, Quote, RiskState, TradingState
from engine.model.events import Kill, StatusEvent
from engine.model.vitals import Health, Vitals
from engine.runtime.vitals import measure

REPO = Path(__file__).resolve().parents[2]
OPERATOR = Actor("tester", CommandSource.CLI)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, Path]]:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    eng = Engine(settings, database=tmp_path / "data" / "onetap.db", market=load_shipped(), paced=False)
    await eng.start()
    path = tmp_path / "run" / "engine.sock"
    server = await serve(eng, path)
    yield eng, path
    server.close()
    await server.wait_closed()
    if not eng.store.closed:
        await eng.stop()


async def _status_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = await asyncio.to_thread(report, path, as_json=True)
    return code, json.loads(capsys.readouterr().out)


async def test_a_trading_engine_is_healthy_and_says_what_it_holds(
    served: tuple[Engine, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    engine, path = served
    await engine.step_day()
    audited = len(engine.store.load_audit())
    code, vitals = await _status_json(path, capsys)
    assert vitals["trading_state"] == "ACTIVE"
    assert vitals["health"] == "HEALTHY" and code == vitals["exit_code"] == 0
    assert vitals["equity"] == pytest.approx(engine.snapshot().account.equity)
    assert vitals["broker"] == "paper" and vitals["link"] == ""
    assert "stocks" in vitals["quote_age_s"]  # type: ignore[operator]
    assert len(engine.store.load_audit()) == audited, "a status poll must not grow the audit record"


async def test_a_halted_engine_exits_2_and_says_why(
    served: tuple[Engine, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    engine, path = served
    result = await engine.handle(Kill(reason="status test", source=CommandSource.CLI), OPERATOR)
    assert result.ok
    code, vitals = await _status_json(path, capsys)
    assert code == 2 and vitals["health"] == "HALTED"
    assert vitals["kill_level"] == 1
    assert any("status test" in str(r) for r in vitals["reasons"])  # type: ignore[attr-defined]


async def test_a_database_that_cannot_be_written_is_degraded(
    served: tuple[Engine, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    engine, path = served
    engine.parts.health.failed("writing a fill", OSError(28, "No space left on device"))
    code, vitals = await _status_json(path, capsys)
    assert code == 1 and vitals["health"] == "DEGRADED"
    assert "database not writable" in str(vitals["reasons"])


def test_no_engine_is_unreachable_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nothing.sock"
    assert report(path, as_json=False) == 2
    assert capsys.readouterr().out == f"onetap status: UNREACHABLE: no engine is serving {path}\n"


async def test_the_fast_path_answers_quickly_without_importing_the_engine(
    served: tuple[Engine, Path],
) -> None:
    _engine, path = served
    probe = (
        "import sys, time\n"
        "t0 = time.perf_counter()\n"
        "from console.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = ('pandas', 'numpy', 'engine.kernel', 'engine.config', 'textual')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
        "sys.exit(code)\n"
    )
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        probe,
        "--socket",
        str(path),
        "status",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60.0)
    assert time.perf_counter() - started > 0.0
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "onetap status: HEALTHY"
    assert any(line.strip().startswith("trading") and "ACTIVE" in line for line in lines)
    assert lines[-1] == "HEAVY []"


# ----------------------------------------------------------------- the verdict's rules, measured
NOW = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York, a session day


def _vitals(
    *,
    feed: str,
    link: str = "",
    quote_age_s: float = 1.0,
    state: TradingState = TradingState.ACTIVE,
    stale: tuple[str, ...] = (),
    held_out: dict[str, str] | None = None,
) -> Vitals:
    status = StatusEvent(
        ts=NOW,
        broker="ibkr",
        mode="paper",
        feed=feed,
        session_day="2024-03-05",
        speed=0.0,
        link=link,
        heartbeat=NOW - timedelta(seconds=3),
    )
    risk = RiskState(
        trading_state=state,
        gross_exposure=0.0,
        gross_limit=1.0,
        day_loss=0.0,
        day_loss_limit=1.0,
        drawdown=0.0,
        drawdown_limit=1.0,
        var_95=500.0,
        var_limit=1000.0,
    )
    account = AccountSnapshot(
        cash=1.0,
        equity=1.0,
        gross_exposure=0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        day_pnl=0.0,
        start_of_day_equity=1.0,
        peak_equity=1.0,
    )
    ts = NOW - timedelta(seconds=quote_age_s)
    quotes = {"AAPL": Quote("AAPL", ts, 99.0, 101.0, 100.0, 1.0, 1.0, 1.0, 0.0)}
    return measure(
        now=NOW,
        status=status,
        risk=risk,
        account=account,
        positions=(),
        open_orders=(),
        quotes=quotes,
        held_out=held_out or {},
        stale=stale,
        last_autopilot_run="",
        store_degraded="",
    )


def test_stale_or_held_out_quotes_degrade_and_say_which() -> None:
    fresh = _vitals(feed="live", link="connected", quote_age_s=30.0)
    assert fresh.health is Health.HEALTHY and fresh.link_age_s == pytest.approx(3.0)
    assert fresh.var_use == pytest.approx(0.5)
    assert fresh.quote_age_s == {"stocks": 30.0}
    stale = _vitals(feed="live", link="connected", stale=("AAPL",))
    assert stale.health is Health.DEGRADED and stale.reasons == ("stale quotes: AAPL",)
    held = _vitals(feed="live", link="connected", held_out={"MSFT": "MSFT crossed: bid 2 > ask 1"})
    assert held.health is Health.DEGRADED and held.reasons == (
        "quotes held out: MSFT crossed: bid 2 > ask 1",
    )


def test_a_lost_link_or_a_recovery_waiting_is_degraded() -> None:
    lost = _vitals(feed="live", link="disconnected")
    assert lost.health is Health.DEGRADED and lost.reasons == ("broker link disconnected",)
    recovering = _vitals(feed="running", state=TradingState.RECOVERING)
    assert recovering.health is Health.DEGRADED
