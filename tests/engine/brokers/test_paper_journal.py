"""The paper broker remembers: every change journaled and fsynced before it is reported, replayed on start."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers import paper
from engine.brokers.base import (
    BrokerError,
    BrokerPosition,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderRejected,
)
from engine.brokers.paper import JournalError, PaperBroker, journal_path_for, read_journal
from engine.brokers.paper import journal as paper_journal
from engine.clock import FixedClock
from engine.model import OrderType, Quote, Side, TimeInForce
from tests.defaults import paper_broker
from tests.engine.brokers.test_paper import DAY, T0, Harness, _actions


async def journaled(path: Path, **kwargs: Any) -> Harness:
    return await Harness(journal=path, **kwargs).connect()


def kinds(path: Path) -> list[str]:
    return [record["e"] for record in read_journal(path)]


def reopen(path: Path, **kwargs: Any) -> PaperBroker:
    """The broker a restarted engine builds: a fresh object over the same journal."""
    return paper_broker(FixedClock(T0 + timedelta(days=1)), journal=path, **kwargs)


async def state(broker: PaperBroker) -> dict[str, Any]:
    """Everything a restart must bring back (quotes are market data and are not remembered)."""
    account = broker.account_summary()
    return {
        "cash": account.cash,
        "settled": account.settled_cash,
        "reserved": account.reserved_cash,
        "positions": await broker.positions(),
        "open": await broker.open_orders(),
        "executions": await broker.executions(),
        "journal": broker.journal_state(),  # working and final orders, pending proceeds, last close
    }


# --------------------------------------------------------------------------- writing
async def test_every_change_is_a_journal_line_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "db" / "onetap.paper.jsonl"
    h = await journaled(path, starting_cash=50_000.0)
    h.broker.adopt_book(cash=50_000.0, positions=[BrokerPosition("MSFT", 10, 300.0)])
    h.quote()
    buy = await h.submit(Side.BUY, 100)
    h.quote()  # fills the buy
    resting = await h.submit(Side.BUY, 10, OrderType.LMT, limit=50.0)
    await h.broker.cancel(resting.client_order_id)
    await h.submit(Side.BUY, 10, OrderType.LMT, limit=60.0)
    await h.submit(Side.SELL, 1, symbol="NODATA")  # rejected: no market data
    h.broker.on_session_close(DAY)  # expires the DAY limit
    assert kinds(path) == [
        "open",
        "restore",
        "accept",
        "fill",
        "accept",
        "cancel",
        "accept",
        "reject",
        "close",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    records = read_journal(path)
    assert records[0]["cash"] == 50_000.0 and records[0]["v"] == paper.JOURNAL_VERSION
    assert records[3]["fill"]["client_order_id"] == buy.client_order_id
    (close,) = [r for r in records if r["e"] == "close"]
    assert close["day"] == DAY.isoformat() and len(close["expired"]) == 1
    assert path.read_bytes().endswith(b"\n")


async def test_each_line_is_on_disk_before_its_report_leaves(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    seen: list[tuple[BrokerReport, list[str]]] = []
    h.broker.set_reporter(lambda report: seen.append((report, kinds(path))))
    h.quote()
    order = await h.submit(Side.BUY, 10)
    h.quote()
    h.broker.on_session_close(DAY)
    await h.submit(Side.BUY, 5, OrderType.LMT, limit=1.0)
    h.broker.on_session_close(DAY + timedelta(days=1))
    (ack, ack_kinds), (fill, fill_kinds), (ack2, _), (expired, close_kinds) = seen
    assert ack == OrderAcknowledged(order.client_order_id, "P1") and ack_kinds[-1] == "accept"
    assert isinstance(fill, OrderFilled) and fill_kinds[-1] == "fill"
    assert isinstance(expired, OrderExpired) and close_kinds[-1] == "close"
    assert isinstance(ack2, OrderAcknowledged)


def test_journal_path_sits_beside_the_database() -> None:
    assert journal_path_for(Path("/data/onetap/onetap.db")) == Path("/data/onetap/onetap.paper.jsonl")


# --------------------------------------------------------------------------- replaying
async def test_a_restarted_broker_is_the_broker_that_wrote_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path, starting_cash=20_000.0)
    h.broker.adopt_book(cash=20_000.0, positions=[BrokerPosition("AAPL", 50, 90.0)])
    h.quote(bid=99.98, ask=100.00, last_size=200)  # participation cap: 50 shares a quote
    partial = await h.submit(Side.BUY, 80)
    h.quote(bid=99.98, ask=100.00, last_size=200)  # 50 of 80 filled
    await h.submit(Side.SELL, 40)
    h.quote(bid=99.98, ask=100.00, last_size=200)  # buy's last 30 and the sell's 40 fill
    stop = await h.submit(Side.SELL, 10, OrderType.STP_LMT, stop=99.0, limit=98.0, tif=TimeInForce.GTC)
    h.quote(bid=98.5, ask=98.6, last=98.9, last_size=0)  # triggers the stop; no volume, no fill
    h.broker.on_session_close(DAY)  # sale proceeds one session from settling
    await h.submit(Side.BUY, 5, OrderType.LMT, limit=10.0, tif=TimeInForce.GTC)
    before = await state(h.broker)
    h.broker.close()  # the process dies: only the journal is left

    again = reopen(path)
    assert again.remembers
    assert await state(again) == before
    assert again.journal_state().working[stop.client_order_id].triggered
    assert [f.client_order_id for f in await again.executions()][:2] == [partial.client_order_id] * 2
    again.close()


async def test_the_opening_line_s_starting_cash_wins_over_the_constructor(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = paper_broker(FixedClock(T0), starting_cash=7_000.0, journal=path)
    assert not first.remembers  # a new journal holds its opening line only
    first.close()
    again = reopen(path, starting_cash=1_000_000.0)
    assert await again.cash() == 7_000.0 and not again.remembers
    again.close()


async def test_a_resubmitted_id_after_a_restart_replays_instead_of_trading_twice(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    order = await h.submit(Side.BUY, 10)
    h.quote()
    h.broker.close()

    again = reopen(path)
    reports: list[BrokerReport] = []
    again.set_reporter(reports.append)
    await again.connect()
    await again.submit(order)  # the engine died before it recorded the send, and sends again
    fill = (await again.executions())[0]
    assert reports == [OrderAcknowledged(order.client_order_id, "P1"), OrderFilled(fill)]
    assert kinds(path).count("accept") == 1
    assert kinds(path)[-1] == "resubmit"  # the broker's evidence that it was sent twice
    assert len(await again.executions()) == 1
    again.close()


async def test_a_rejected_id_stays_rejected_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    order = await h.submit(Side.BUY, 10)  # no quote yet: rejected
    assert isinstance(h.last(), OrderRejected)
    h.broker.close()
    again = reopen(path)
    reports: list[BrokerReport] = []
    again.set_reporter(reports.append)
    await again.connect()
    await again.submit(order)
    assert reports == [OrderRejected(order.client_order_id, "no market data for AAPL")]
    again.close()


async def test_a_restarted_broker_keeps_trading_and_journaling(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    await h.submit(Side.BUY, 10, OrderType.LMT, limit=100.5, tif=TimeInForce.GTC)
    h.broker.close()
    clock = FixedClock(T0 + timedelta(days=1))
    again = paper_broker(clock, journal=path)
    reports: list[BrokerReport] = []
    again.set_reporter(reports.append)
    await again.connect()
    again.on_quote(Quote("AAPL", clock.now(), 99.98, 100.0, 99.99, 500.0, 500.0, 1_000.0, 10_000.0))
    assert isinstance(reports[-1], OrderFilled)
    assert kinds(path)[-1] == "fill"
    again.close()
    third = reopen(path)
    assert (await third.positions())[0].quantity == 10
    third.close()


# --------------------------------------------------------------------------- damage
async def test_a_torn_last_line_is_ignored_with_a_warning_and_cut_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    await h.submit(Side.BUY, 10)
    h.broker.close()
    whole = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"e":"fill","ts":"2024-03-04T15:00:0')  # the process died mid-write
    with caplog.at_level(logging.WARNING, logger="engine.brokers.paper"):
        again = reopen(path)
    assert "torn last line" in caplog.text and f"{path}:3" in caplog.text
    assert path.read_bytes() == whole  # cut back, so the next line starts clean
    assert len(await again.open_orders()) == 1 and await again.executions() == []
    again.close()


async def test_a_whole_last_line_that_lost_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    await h.submit(Side.BUY, 10)
    h.broker.close()
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    again = reopen(path)
    assert len(await again.open_orders()) == 1
    assert path.read_bytes().endswith(b"\n")
    again.close()


async def test_a_damaged_middle_line_is_an_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    await h.submit(Side.BUY, 10)
    h.quote()
    h.broker.close()
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match=rf"{path}:2: not a JSON line"):
        reopen(path)
    with pytest.raises(JournalError, match=":2: not a JSON line"):
        read_journal(path)  # the tools' reader agrees


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"e":"fill","ts":"2024-03-04T15:00:00+00:00","fill":{"type":"Fill"}}', "missing field"),
        ('{"e":"cancel","ts":"2024-03-04T15:00:00+00:00","coid":"OT-404","reason":"x"}', "OT-404"),
        ('{"e":"teleport","ts":"2024-03-04T15:00:00+00:00"}', "unknown record type"),
        ('["not", "a", "record"]', "not a journal record"),
    ],
)
async def test_a_record_that_cannot_be_replayed_names_its_line(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "j.jsonl"
    paper_broker(FixedClock(T0), journal=path).close()
    with path.open("a") as f:
        f.write(line + "\n")
    with pytest.raises(JournalError, match=rf"{path}:2: .*{why}"):
        reopen(path)


def test_a_journal_without_its_opening_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"e":"cancel","ts":"2024-03-04T15:00:00+00:00","coid":"OT-1","reason":""}\n')
    with pytest.raises(JournalError, match="opening line"):
        reopen(path)


def test_a_journal_from_a_newer_onetap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"e": "open", "v": paper.JOURNAL_VERSION + 1, "cash": 1.0}) + "\n")
    with pytest.raises(JournalError, match="newer onetap"):
        reopen(path)


def test_a_second_broker_on_the_same_journal_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = paper_broker(FixedClock(T0), journal=path)
    with pytest.raises(JournalError, match="in use by another process"):
        paper_broker(FixedClock(T0), journal=path)
    first.close()
    dropped = paper_broker(FixedClock(T0), journal=path)
    del dropped  # forgotten without close(): the lock goes with it
    paper_broker(FixedClock(T0), journal=path).close()


async def test_a_line_that_cannot_be_written_changes_nothing_and_reports_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    resting = await h.submit(Side.BUY, 10, OrderType.LMT, limit=50.0)
    size = path.stat().st_size
    reports = len(h.reports)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paper_journal.os, "fsync", full)
    with pytest.raises(BrokerError, match="No space left on device"):
        await h.submit(Side.BUY, 10)
    with pytest.raises(BrokerError, match="No space left on device"):
        await h.broker.cancel(resting.client_order_id)
    h.broker.on_session_close(DAY)  # logged, not done
    assert path.stat().st_size == size  # the half-written lines were cut back
    assert len(h.reports) == reports
    assert [o.client_order_id for o in await h.broker.open_orders()] == [resting.client_order_id]
    monkeypatch.undo()
    h.broker.on_session_close(DAY)  # retried: now it happens
    assert isinstance(h.last(), OrderExpired)
    h.broker.close()
    assert kinds(path)[-1] == "close"
    reopen(path).close()


async def test_cancel_after_restart_is_journaled(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    h = await journaled(path)
    h.quote()
    order = await h.submit(Side.BUY, 10, OrderType.LMT, limit=50.0, tif=TimeInForce.GTC)
    h.broker.close()
    again = reopen(path)
    reports: list[BrokerReport] = []
    again.set_reporter(reports.append)
    await again.connect()
    await again.cancel(order.client_order_id)
    assert reports == [OrderCancelled(order.client_order_id, "cancelled at the operator's request")]
    await again.disconnect()  # releases the journal
    third = reopen(path)
    assert await third.open_orders() == []
    third.close()


# --------------------------------------------------------------------------- property
async def _play(path: Path, actions: list[tuple[Any, ...]], options: dict[str, Any]) -> PaperBroker:
    h = await journaled(path, **options)
    h.broker.adopt_book(
        cash=3_000.0, positions=[BrokerPosition("AAA", 200, 40.0), BrokerPosition("BBB", 50, 80.0)]
    )
    h.quote("AAA", bid=39.96, ask=40.04, last=40.0)
    h.quote("BBB", bid=79.92, ask=80.08, last=80.0)
    mids = {"AAA": 40.0, "BBB": 80.0}
    day = DAY
    for action in actions:
        match action:
            case ("quote", sym, mid, half, off, size):
                h.quote(sym, bid=mid * (1 - half), ask=mid * (1 + half), last=mid * (1 + off), last_size=size)
                mids[sym] = mid
            case ("order", sym, side, qty, order_type, off, tif):
                ref = mids[sym] * (1 + off)
                limit = ref if order_type in (OrderType.LMT, OrderType.STP_LMT) else None
                stop = ref if order_type in (OrderType.STP, OrderType.STP_LMT) else None
                await h.submit(side, qty, order_type, symbol=sym, limit=limit, stop=stop, tif=tif)
            case ("cancel", index):
                working = await h.broker.open_orders()
                if working:
                    await h.broker.cancel(working[index % len(working)].client_order_id)
            case ("close",):
                h.broker.on_session_close(day)
                day += timedelta(days=1)
    return h.broker


@settings(max_examples=120, deadline=None)
@given(
    actions=_actions,
    allow_short=st.booleans(),
    allow_fractional=st.booleans(),
    settlement_days=st.integers(0, 2),
    cut=st.floats(0.0, 1.0),
)
def test_any_history_replays_to_the_same_state_and_any_prefix_replays(
    actions: list[tuple[Any, ...]],
    allow_short: bool,
    allow_fractional: bool,
    settlement_days: int,
    cut: float,
) -> None:
    options = {
        "allow_short": allow_short,
        "allow_fractional": allow_fractional,
        "settlement_days": settlement_days,
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.jsonl"
        broker = asyncio.run(_play(path, actions, options))
        before = asyncio.run(state(broker))
        broker.close()
        again = reopen(path, **options)
        assert asyncio.run(state(again)) == before
        again.close()
        # A crash can stop the journal after any line: every prefix is a state the broker was in.
        lines = path.read_bytes().splitlines(keepends=True)
        keep = max(1, round(cut * len(lines)))
        prefix = Path(folder) / "prefix.jsonl"
        prefix.write_bytes(b"".join(lines[:keep]))
        survivor = reopen(prefix, **options)
        executions = asyncio.run(survivor.executions())
        assert executions == before["executions"][: len(executions)]
        survivor.close()


def test_read_journal_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    paper_broker(FixedClock(T0), journal=path).close()
    with path.open("ab") as f:
        f.write(b'{"e":"acc')
    size = path.stat().st_size
    assert kinds(path) == ["open"]
    assert path.stat().st_size == size
    assert os.access(path, os.R_OK)


async def test_a_modify_is_journaled_confirmed_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "onetap.paper.jsonl"
    h = await journaled(path)
    h.quote()
    order = await h.submit(Side.BUY, 10, OrderType.LMT, limit=50.0)
    await h.broker.modify(order.client_order_id, quantity=12.0, limit_price=51.0)
    assert h.last() == OrderModified(order.client_order_id, 12.0, 51.0)
    assert kinds(path)[-1] == "modify"
    with pytest.raises(BrokerError, match="must be above what already filled"):
        await h.broker.modify(order.client_order_id, quantity=0.0, limit_price=51.0)
    before = await state(h.broker)
    h.broker.close()
    again = reopen(path)
    (working,) = await again.open_orders()
    assert (working.quantity, working.limit_price) == (12.0, 51.0)
    assert (await state(again))["reserved"] == pytest.approx(before["reserved"])
