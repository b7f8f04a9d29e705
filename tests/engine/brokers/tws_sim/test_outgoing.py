"""Encoders at the edges of the supported range: field counts from TWS_PROTOCOL_NOTES.md §4-5."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.codec import encode_frame, field_list, split_frames
from engine.brokers.tws_sim.contracts import ContractQuery, Universe
from engine.brokers.tws_sim.events import Execution, SimOrder

UNIVERSE = Universe()
AAPL = UNIVERSE.stock("AAPL")
assert AAPL is not None


def _order(quantity: float = 100.0) -> SimOrder:
    assert AAPL is not None
    return SimOrder(1, 7, 1_000_001, AAPL, "BUY", quantity, "LMT", 150.25, None, "DAY", "DU1", "ref-1")


def _execution(shares: float) -> Execution:
    assert AAPL is not None
    return Execution(
        "0000e1a7.00000001.01.01", 1, 7, 1_000_001, AAPL, "DU1", "BOT", shares, 150.0, shares, 150.0, "ref-1",
        datetime(2024, 1, 2, 15, 0, tzinfo=UTC), 1.0, None,
    )  # fmt: skip


@pytest.mark.parametrize(("version", "count"), [(157, 120), (176, 128), (177, 127), (178, 127)])
def test_open_order_field_count(version: int, count: int) -> None:
    assert len(outgoing.open_order(version, _order())) == count


@pytest.mark.parametrize(("version", "count"), [(157, 31), (176, 31), (177, 31), (178, 32)])
def test_exec_details_field_count(version: int, count: int) -> None:
    assert len(outgoing.exec_details(version, -1, _execution(100.0))) == count


@pytest.mark.parametrize(("version", "count"), [(157, 5), (165, 5), (166, 6), (178, 6)])
def test_error_gets_advanced_reject_field_from_166(version: int, count: int) -> None:
    assert len(outgoing.error(version, -1, 2104, "ok")) == count


def test_contract_details_version_field_only_below_164() -> None:
    assert AAPL is not None
    old = field_list(outgoing.contract_details(157, 3, AAPL))
    new = field_list(outgoing.contract_details(178, 3, AAPL))
    assert old[:3] == ["10", "8", "3"]
    assert new[:3] == ["10", "3", "AAPL"]
    # old: + version + mdSizeMultiplier; new: + minSize, sizeIncrement, suggestedSizeIncrement
    assert len(new) - len(old) == 1
    assert new[-3:] == ["0.0001", "0.0001", "100"]


def test_strictly_unpacked_messages_have_exact_lengths() -> None:
    assert AAPL is not None
    assert len(outgoing.tick_price(1, 1, 150.0, 100.0)) == 7
    assert len(outgoing.next_valid_id(5)) == 3
    assert len(outgoing.managed_accounts(["DU1", "DU2"])) == 3
    assert len(outgoing.portfolio_value(AAPL, 10, 1, 10, 1, 0, 0, "DU1")) == 20
    assert len(outgoing.commission_report(_execution(1.0))) == 8
    assert len(outgoing.position("DU1", AAPL, 10.0, 150.0)) == 16


def test_fractional_and_integral_quantities_round_trip_as_text() -> None:
    frames, _ = split_frames(encode_frame(outgoing.order_status(_order(2.5))))
    fields = frames[0].decode().split("\0")
    assert fields[:5] == ["3", "1", "Submitted", "0", "2.5"]
    whole = field_list(outgoing.exec_details(176, -1, _execution(100.0)))
    assert whole[19] == "100"  # shares, no ".0" for the official client's int() parse


def test_option_contract_resolves_by_fields_and_by_occ_symbol() -> None:
    spec = UNIVERSE.resolve(
        ContractQuery(symbol="AAPL", sec_type="OPT", expiry="20240119", strike=150.0, right="C")
    )
    assert spec is not None
    assert spec.local_symbol == "AAPL  240119C00150000"
    assert spec.multiplier == 100.0
    assert UNIVERSE.by_key("AAPL  240119C00150000") == spec
    assert UNIVERSE.resolve(ContractQuery(symbol="AAPL", sec_type="OPT", expiry="2024", strike=150.0)) is None
