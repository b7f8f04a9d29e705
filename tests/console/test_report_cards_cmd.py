"""`onetap report cards`: the template scoreboard from a database filled through the Store."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli import main
from engine.model import Fill, Leg, Order, OrderStatus, Side, StrategyCard
from engine.model.forecast import ForecastOutcome, OutcomeStatus
from engine.store.repository import Store

T0 = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
DAY = timedelta(days=1)


def _card(card_id: str, template: str, symbol: str, qty: float, conf: float, exp: float) -> StrategyCard:
    return StrategyCard(
        card_id=card_id,
        template=template,
        name=f"{template} {symbol}",
        legs=(Leg(symbol, Side.BUY, qty),),
        confidence=conf,
        expected_return=exp,
        max_risk=50.0,
        reason="test",
        asof=T0,
        details={"expected_cost": 2.0},
    )


def _order(coid: str, symbol: str, side: Side, qty: float, **kw: object) -> Order:
    return Order(coid, symbol, side, qty, created_at=T0, status=OrderStatus.FILLED, filled_quantity=qty, **kw)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """momentum AAPL: bought 10 @ 100.10 (arrival 100), sold by hand 10 @ 102.90 (arrival 103) the
    next day, commissions 1 each; pairs MSFT: bought 5, still open; an old rotation outcome."""
    path = tmp_path / "data" / "onetap.db"
    with Store.open(path) as store:
        store.save_cards(
            [
                _card("momentum-AAPL-20120305@X-1", "momentum", "AAPL", 10, 0.6, 0.02),
                _card("pairs-MSFT-20120305@X-3", "pairs", "MSFT", 5, 0.55, 0.01),
            ]
        )
        entry = _order(
            "OT-1",
            "AAPL",
            Side.BUY,
            10,
            card_id="momentum-AAPL-20120305",
            execution_id="X-1",
            arrival_price=100.0,
        )
        sale = _order("OT-2", "AAPL", Side.SELL, 10, arrival_price=103.0)
        other = _order("OT-3", "MSFT", Side.BUY, 5, card_id="pairs-MSFT-20120305", execution_id="X-3")
        for o in (entry, sale, other):
            store.insert_order(o)
        store.insert_fill(Fill("E1", "OT-1", "AAPL", Side.BUY, 10, 100.10, 1.0, T0))
        store.insert_fill(Fill("E2", "OT-2", "AAPL", Side.SELL, 10, 102.90, 1.0, T0 + DAY))
        store.insert_fill(Fill("E3", "OT-3", "MSFT", Side.BUY, 5, 30.0, 1.0, T0))
        old = ForecastOutcome(
            "X-0", "rotation-basket-20120301", "rotation", ("SPY",), OutcomeStatus.CLOSED, T0 - 5 * DAY,
            T0 - 4 * DAY, 0.5, 0.01, 10.0, 1.0, 1000.0, 5.0, 1.0, 1.0, 0.0, 0.0,
        )  # fmt: skip
        store.save_outcomes([old])
    return path


def test_the_scoreboard_and_each_trade_with_hand_computed_figures(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "cards", "--since", "2012-03-05", "--database", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cards closed since 2012-03-05: 1 scored, 1 open (pending, not counted)"
    (momentum,) = [line for line in lines if line.startswith("momentum ")]
    # 1 trade, 1 win (Wilson 95% for 1 of 1: [21%, 100%]); return 28 / 1,001 = +2.80% vs +2.00%;
    # entry cost 1 commission + 1 shortfall = 2 / 1,001 = 20.0 bps vs 2 / 1,001 = 20.0 expected;
    # round trip + 1 commission + 1 shortfall (sold 0.10 under arrival) = 40.0 bps
    assert " ".join(momentum.split()) == (
        "momentum 1 0 100% [21%, 100%] 60% +2.80% +2.00% 20.0 20.0 40.0 0 untested (<20)"
    )
    (pairs,) = [line for line in lines if line.startswith("pairs ")]
    assert pairs.split()[1:3] == ["0", "1"]
    assert not any(line.startswith("rotation ") for line in lines)  # closed before --since
    (trade,) = [line for line in lines if "X-1" in line]
    assert " ".join(trade.split()) == (
        "2012-03-06 X-1 momentum-AAPL-20120305 win conf 60% return +2.80% vs +2.00% net +2.60% "
        "cost 2.00 vs 2.00 loss/max risk 0%"
    )


def test_json_lines(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "cards", "--since", "2012-03-01", "--database", str(db), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["type"], r.get("template")) for r in records] == [
        ("template", "momentum"),
        ("template", "pairs"),
        ("template", "rotation"),
        ("outcome", "rotation"),
        ("outcome", "momentum"),
        ("open", "pairs"),
    ]
    m = records[4]
    assert m["capital"] == pytest.approx(1001.0) and m["gross_pnl"] == pytest.approx(28.0)
    assert m["realized_return"] == pytest.approx(28.0 / 1001.0) and m["hit"] is True
    assert m["entry_cost"] == pytest.approx(2.0) and m["realized_cost"] == pytest.approx(4.0)
    assert records[0]["hit_rate"] == 1.0 and records[0]["drifting"] is False
    assert records[5]["held"] == 5.0


def test_a_bad_date_and_a_missing_database_are_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "cards", "--since", "2012-13-01", "--database", str(tmp_path / "x.db")]) == 2
    assert "--since expects a date YYYY-MM-DD, got '2012-13-01'" in capsys.readouterr().err
    missing = tmp_path / "nope.db"
    assert main(["report", "cards", "--since", "2012-03-05", "--database", str(missing)]) == 2
    assert "no such database" in capsys.readouterr().err and not missing.exists()


def test_a_stored_outcome_is_the_one_reported(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The engine's stored record wins over the report's own fold (they agree; the row is the record)."""
    with Store.open(db) as store:
        (computed,) = [o for o in _fold(store) if o.execution_id == "X-1"]
        store.save_outcomes([replace(computed, gross_pnl=-3.0)])
    assert main(["report", "cards", "--since", "2012-03-05", "--database", str(db), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (m,) = [r for r in records if r["type"] == "outcome"]
    assert m["gross_pnl"] == -3.0 and m["hit"] is False


def _fold(store: Store) -> list[ForecastOutcome]:
    from engine.portfolio.forecasts import TradeBook

    return TradeBook(lambda c, x: store.load_card(f"{c}@{x}")).fold(store.load_orders(), store.load_fills())
