"""`onetap report portfolio` on a database written by a real engine that traded a little.

The engine is the real one (paper broker, shipped data, SQLite in tmp), stepped by hand: it buys
on two cards of different templates, then sells the first position through a rebalance. The
report is checked against figures the test works out itself from the stored fills and the
shipped closes, not against the builder's own helpers.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from console.cli import main
from engine.actor import Actor
from engine.config import load_settings
from engine.kernel import Engine
from engine.model import CommandSource, Fill, Side
from engine.model.events import ExecuteCard
from engine.store.repository import Store
from tests.shipped import shipped_market

SINCE = "2012-01-01"
OPERATOR = Actor("tester", CommandSource.HOTKEY)


@dataclass(frozen=True)
class Traded:
    db: Path
    templates: frozenset[str]
    """The templates of the cards executed (the strategies the report must name)."""
    sold: str
    last_day: date


async def _trade(db: Path) -> Traded:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    engine = Engine(settings, database=db, market=shipped_market(), paced=False)
    await engine.start()
    templates: set[str] = set()
    try:
        await engine.step_day()
        for _ in range(2):
            held = {p.symbol for p in engine.ledger.positions(include_flat=False)}
            card = next(
                c for c in engine.cards if c.legs[0].side is Side.BUY and c.legs[0].symbol not in held
            )
            assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
            templates.add(card.template)
            await engine.step_day()
            await engine.step_day()
        sold = sorted(p.symbol for p in engine.ledger.positions(include_flat=False))[0]
        assert (await engine.rebalance_to({sold: 0.0}, OPERATOR, strategy="rotation")).ok
        await engine.step_day()
        await engine.step_day()
        last_day = engine.feed.current_day
        assert last_day is not None
    finally:
        await engine.stop()
    return Traded(db, frozenset(templates), sold, last_day)


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Traded:
    return asyncio.run(_trade(tmp_path_factory.mktemp("portfolio") / "onetap.db"))


def _fills(db: Path) -> list[Fill]:
    store = Store.open(db)
    try:
        return store.load_fills()
    finally:
        store.close()


def expected_end_equity(fills: list[Fill], day: date) -> float:
    """Starting cash, less what the fills cost, plus the positions at the day's shipped closes."""
    cash = 100_000.0 - math.fsum(f.side.sign * f.quantity * f.price + f.commission for f in fills)
    held: dict[str, float] = {}
    for f in fills:
        held[f.symbol] = held.get(f.symbol, 0.0) + f.side.sign * f.quantity
    market = shipped_market()
    value = math.fsum(q * market.bars[s]["close"].loc[: str(day)].iloc[-1] for s, q in held.items() if q)
    return cash + value


def report_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", "portfolio", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_summary_reads_the_engines_book(traded: Traded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = report_cli(capsys, "--since", SINCE, "--database", str(traded.db))
    assert code == 0, err
    fills = _fills(traded.db)
    assert len(fills) == 3
    end = expected_end_equity(fills, traded.last_day)
    lines = out.splitlines()
    assert lines[0].startswith(f"portfolio 2012-01-01 .. {traded.last_day}")
    assert lines[0].endswith("3 fills)")
    assert lines[1] == f"equity     100,000.00 -> {end:,.2f}  P&L {end - 100_000:+,.2f}"
    strategy_rows = lines[lines.index(next(x for x in lines if x.startswith("P&L by strategy"))) + 1 :]
    named = {row.split()[0] for row in strategy_rows[: len(traded.templates)]}
    assert named == set(traded.templates)
    assert "realized   short term" in out and "(1 lot)" in out
    assert "benchmark: the universe equal-weighted (AAPL, MSFT, GOOG, IBM, AMZN)" in out


def test_out_writes_json_and_csvs_that_add_up(
    traded: Traded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "report"
    code, out, err = report_cli(capsys, "--since", SINCE, "--database", str(traded.db), "--out", str(folder))
    assert code == 0, err
    assert f"wrote 7 files to {folder}" in out
    data = json.loads((folder / "portfolio.json").read_text())
    end = expected_end_equity(_fills(traded.db), traded.last_day)
    assert data["end_equity"] == pytest.approx(end)
    assert data["total_pnl"] == pytest.approx(end - 100_000.0)
    for name in ("strategy", "symbol", "sector"):
        with (folder / f"attribution_{name}.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert math.fsum(float(r["total"]) for r in rows) == pytest.approx(data["total_pnl"], abs=1e-6)
    with (folder / "equity_curve.csv").open() as handle:
        curve = list(csv.DictReader(handle))
    assert curve[-1]["date"] == traded.last_day.isoformat()
    assert float(curve[-1]["equity"]) == pytest.approx(end)
    with (folder / "realized_gains.csv").open() as handle:
        (realized,) = list(csv.DictReader(handle))
    assert (realized["symbol"], realized["term"]) == (traded.sold, "SHORT")
    assert realized["strategy"] in traded.templates
    with (folder / "brinson_sector.csv").open() as handle:
        brinson = list(csv.DictReader(handle))
    b = data["brinson"]
    assert math.fsum(float(r["total"]) for r in brinson) == pytest.approx(b["active_return"], abs=1e-12)
    assert b["portfolio_return"] == pytest.approx(data["returns"]["total_return"])


def test_json_prints_one_object(traded: Traded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = report_cli(
        capsys, "--since", SINCE, "--until", "2012-01-05", "--database", str(traded.db), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert (data["start"], data["end"]) == ("2012-01-01", "2012-01-05")
    assert [p["day"] for p in data["equity_curve"]][-1] == "2012-01-05"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2012-13-01"), "--since expects a date YYYY-MM-DD, got '2012-13-01'"),
        (("--since", SINCE, "--until", "soon"), "--until expects a date YYYY-MM-DD, got 'soon'"),
        (("--since", "2012-02-01", "--until", "2012-01-05"), "the report ends (2012-01-05) before it starts"),
    ],
)
def test_bad_dates_say_so_in_one_line_and_exit_2(
    traded: Traded, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = report_cli(capsys, *args, "--database", str(traded.db))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err


def test_a_missing_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    code, out, err = report_cli(capsys, "--since", SINCE, "--database", str(missing))
    assert (code, out) == (2, "")
    assert err == f"onetap: report: {missing}: no such database\n"
    assert not missing.exists(), "a report must not create an empty database"


def test_a_configured_benchmark_is_named(
    traded: Traded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bench.toml"
    config.write_text("[universe]\nbenchmark_weights = { AAPL = 3.0, IBM = 1.0 }\n")
    code = main(
        ["--config", str(config), "report", "portfolio", "--since", SINCE, "--database", str(traded.db)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "benchmark: configured weights (AAPL 75%, IBM 25%)" in captured.out
