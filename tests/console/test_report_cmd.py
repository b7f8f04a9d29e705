"""`onetap report executions` end to end: a database filled through the Store, the command as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli import main
from engine.model import Fill, Order, OrderStatus, OrderType, Side
from engine.store.repository import Store

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York


def _order(coid: str, symbol: str, side: Side, qty: float, at: datetime, **kw: object) -> Order:
    return Order(coid, symbol, side, qty, created_at=at, updated_at=at, **kw)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A TWAP parent with two children (card X-1), a plain sell, and an order from before --since."""
    path = tmp_path / "data" / "onetap.db"
    store = Store.open(path)
    try:
        m = timedelta(minutes=1)
        parent = _order(
            "OT-P",
            "AAPL",
            Side.BUY,
            300,
            T0,
            algo="TWAP",
            arrival_price=100.0,
            card_id="C-1",
            execution_id="X-1",
            status=OrderStatus.FILLED,
            filled_quantity=300,
            avg_fill_price=100.2,
        )
        kids = [
            _order("OT-C1", "AAPL", Side.BUY, 100, T0, parent_id="OT-P", arrival_price=100.0),
            _order("OT-C2", "AAPL", Side.BUY, 200, T0 + 5 * m, parent_id="OT-P", arrival_price=100.0),
        ]
        plain = _order(
            "OT-M", "MSFT", Side.SELL, 100, T0 + 10 * m, arrival_price=30.0, order_type=OrderType.MKT
        )
        old = _order("OT-OLD", "IBM", Side.BUY, 5, T0 - timedelta(days=3), arrival_price=180.0)
        for o in (parent, *kids, plain, old):
            if o.parent_id:
                o.card_id, o.execution_id = "C-1", "X-1"
            o.status = OrderStatus.FILLED
            store.insert_order(o)
        store.insert_fill(Fill("E1", "OT-C1", "AAPL", Side.BUY, 100, 100.10, 1.0, T0 + m))
        store.insert_fill(Fill("E2", "OT-C2", "AAPL", Side.BUY, 200, 100.25, 1.0, T0 + 6 * m))
        store.insert_fill(
            Fill("E3", "OT-M", "MSFT", Side.SELL, 100, 29.97, 1.0, T0 + 10 * m + timedelta(seconds=30))
        )
        store.insert_fill(Fill("E4", "OT-OLD", "IBM", Side.BUY, 5, 180.0, 1.0, T0 - timedelta(days=3)))
    finally:
        store.close()
    return path


def onetap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_report_prints_one_line_per_execution_and_order_with_exact_figures(db: Path) -> None:
    done = onetap("report", "executions", "--since", "2012-03-05", "--database", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines == [
        "execution X-1  card C-1  AAPL BUY  qty 300  filled 300  arrival 100.0000  avg 100.2000  "
        "slippage 20.00 bps  fill 100.0%  first fill 60s  last fill 360s  commission 2.00  "
        "cost 62.00 (20.67 bps)",
        "  order OT-P  AAPL BUY  qty 300  filled 300  arrival 100.0000  avg 100.2000  slippage 20.00 bps  "
        "fill 100.0%  first fill 60s  last fill 360s  commission 2.00  [TWAP, FILLED]",
        "    child OT-C1  AAPL BUY  qty 100  filled 100  arrival 100.0000  avg 100.1000  slippage 10.00 bps  "
        "fill 100.0%  first fill 60s  last fill 60s  commission 1.00  [FILLED]",
        "    child OT-C2  AAPL BUY  qty 200  filled 200  arrival 100.0000  avg 100.2500  slippage 25.00 bps  "
        "fill 100.0%  first fill 60s  last fill 60s  commission 1.00  [FILLED]",
        "execution -  card -  MSFT SELL  qty 100  filled 100  arrival 30.0000  avg 29.9700  "
        "slippage 10.00 bps  fill 100.0%  first fill 30s  last fill 30s  commission 1.00  "
        "cost 4.00 (13.33 bps)",
        "  order OT-M  MSFT SELL  qty 100  filled 100  arrival 30.0000  avg 29.9700  slippage 10.00 bps  "
        "fill 100.0%  first fill 30s  last fill 30s  commission 1.00  [FILLED]",
    ]


def test_report_json_lines(db: Path) -> None:
    done = onetap("report", "executions", "--since", "2012-03-05", "--database", str(db), "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["type"], r.get("client_order_id")) for r in records] == [
        ("execution", None),
        ("order", "OT-P"),
        ("child", "OT-C1"),
        ("child", "OT-C2"),
        ("execution", None),
        ("order", "OT-M"),
    ]
    x = records[0]
    assert x["execution_id"] == "X-1" and x["symbols"] == ["AAPL"] and x["sides"] == ["BUY"]
    assert x["slippage_bps"] == pytest.approx(20.0)
    assert x["realized_cost"] == pytest.approx(62.0)
    assert x["fill_rate"] == 1.0 and x["commission"] == 2.0
    assert (x["time_to_first_fill_s"], x["time_to_last_fill_s"]) == (60.0, 360.0)
    c2 = records[3]
    assert c2["parent_id"] == "OT-P" and c2["avg_fill_price"] == 100.25 and c2["fills"] == 1
    assert c2["created_at"] == "2012-03-05T15:05:00+00:00"
    assert records[5]["slippage_bps"] == pytest.approx(10.0) and records[5]["side"] == "SELL"


def test_a_bad_date_is_one_error_line_and_exit_2(db: Path) -> None:
    done = onetap("report", "executions", "--since", "2012-13-01", "--database", str(db))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "onetap: report: --since expects a date YYYY-MM-DD, got '2012-13-01'\n"


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    assert main(["report", "executions", "--since", "2012-03-05", "--database", str(missing)]) == 2
    assert not missing.exists()


def test_top_level_database_flag_and_an_empty_period(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", str(db), "report", "executions", "--since", "2012-03-06"]) == 0
    assert capsys.readouterr().out == f"no executions since 2012-03-06 in {db}\n"
