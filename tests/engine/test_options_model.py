"""OCC option symbols: round trips, the padded-root form only, clear errors on malformed symbols."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import OptionContract, contract_multiplier, is_option_symbol


def test_the_symbol_is_the_occ_form_with_the_root_padded_to_six() -> None:
    put = OptionContract("AAPL", date(2012, 4, 20), 550.0, "P")
    assert put.symbol == "AAPL  120420P00550000"
    assert len(put.symbol) == 21
    assert OptionContract("F", date(2012, 4, 20), 52.5, "C").symbol == "F     120420C00052500"
    assert OptionContract("GOOGL", date(2030, 1, 18), 0.5, "C").symbol == "GOOGL 300118C00000500"
    assert OptionContract("SPXW12", date(2024, 12, 31), 99_999.999, "P").symbol == "SPXW12241231P99999999"


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("AAPL  120420P00550000", OptionContract("AAPL", date(2012, 4, 20), 550.0, "P")),
        ("F     120420C00052500", OptionContract("F", date(2012, 4, 20), 52.5, "C")),
        ("BRK.B 240621C00412500", OptionContract("BRK.B", date(2024, 6, 21), 412.5, "C")),
        ("SPY   240315P00000125", OptionContract("SPY", date(2024, 3, 15), 0.125, "P")),
    ],
)
def test_parse_reads_every_field(symbol: str, expected: OptionContract) -> None:
    contract = OptionContract.parse(symbol)
    assert contract == expected
    assert contract.multiplier == 100.0
    assert contract.symbol == symbol


@given(
    root=st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True),
    expiry=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    thousandths=st.integers(1, 99_999_999),
    right=st.sampled_from(["C", "P"]),
)
def test_any_contract_round_trips_through_its_symbol(
    root: str, expiry: date, thousandths: int, right: str
) -> None:
    contract = OptionContract(root, expiry, thousandths / 1000.0, "C" if right == "C" else "P")
    assert OptionContract.parse(contract.symbol) == contract
    assert is_option_symbol(contract.symbol)
    assert contract_multiplier(contract.symbol) == 100.0


@pytest.mark.parametrize(
    ("symbol", "why"),
    [
        ("AAPL", "not an OCC option symbol"),
        ("", "not an OCC option symbol"),
        ("AAPL120420P00550000", "not an OCC option symbol"),  # root not padded
        ("aapl  120420P00550000", "not an OCC option symbol"),  # lower case
        ("AAPL  120420X00550000", "not an OCC option symbol"),  # neither C nor P
        ("AAPL  120420P0055000", "not an OCC option symbol"),  # seven strike digits
        ("AAPL  120420P005500000", "not an OCC option symbol"),  # nine
        ("AAPL  12042OP00550000", "not an OCC option symbol"),  # a letter in the date
        ("AAPL  121320P00550000", "is not a date"),  # month 13
        ("AAPL  120230P00550000", "is not a date"),  # 30 February
        ("AAPL  120420P00000000", "strike is zero"),
        ("AA PL 120420P00550000", "contains a space"),
        ("      120420P00550000", "not an OCC option symbol"),  # no root
    ],
)
def test_a_malformed_symbol_is_a_value_error_saying_why(symbol: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        OptionContract.parse(symbol)
    assert not is_option_symbol(symbol)
    assert contract_multiplier(symbol) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"underlying": "aapl"}, "not an OCC root"),
        ({"underlying": "TOOLONGX"}, "not an OCC root"),
        ({"strike": 0.0}, "strike"),
        ({"strike": float("nan")}, "strike"),
        ({"strike": 100_000.0}, "strike"),
        ({"strike": 10.0001}, "finer than"),
        ({"right": "X"}, "right"),
        ({"expiry": date(1999, 12, 17)}, "YYMMDD"),
        ({"multiplier": 0.0}, "multiplier"),
    ],
)
def test_a_contract_no_symbol_can_name_is_refused(kwargs: dict[str, object], why: str) -> None:
    fields: dict[str, object] = {
        "underlying": "AAPL",
        "expiry": date(2012, 4, 20),
        "strike": 550.0,
        "right": "P",
    }
    with pytest.raises(ValueError, match=why):
        OptionContract(**{**fields, **kwargs})  # type: ignore[arg-type]


def test_stocks_have_multiplier_one() -> None:
    for symbol in ("AAPL", "BRK.B", "SPY", "A"):
        assert not is_option_symbol(symbol)
        assert contract_multiplier(symbol) == 1.0


def test_expiry_is_the_new_york_close_and_time_runs_out_there() -> None:
    contract = OptionContract.parse("AAPL  120420P00550000")
    assert contract.expires_at == datetime(2012, 4, 20, 20, 0, tzinfo=UTC)  # 16:00 EDT
    winter = OptionContract.parse("AAPL  120120P00550000")
    assert winter.expires_at == datetime(2012, 1, 20, 21, 0, tzinfo=UTC)  # 16:00 EST
    assert contract.years_to_expiry(datetime(2012, 4, 19, 20, 0, tzinfo=UTC)) == pytest.approx(1 / 365)
    assert contract.years_to_expiry(contract.expires_at) == 0.0
    assert contract.years_to_expiry(datetime(2012, 5, 1, tzinfo=UTC)) == 0.0


def test_intrinsic_value() -> None:
    put = OptionContract.parse("AAPL  120420P00550000")
    call = OptionContract.parse("AAPL  120420C00550000")
    assert put.intrinsic(540.0) == pytest.approx(10.0) and put.intrinsic(560.0) == 0.0
    assert call.intrinsic(560.0) == pytest.approx(10.0) and call.intrinsic(540.0) == 0.0
