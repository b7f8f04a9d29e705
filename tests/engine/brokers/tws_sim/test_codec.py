"""Framing and value encoding, byte for byte (TWS_PROTOCOL_NOTES.md §1-2)."""

from __future__ import annotations

import pytest

from engine.brokers.tws_sim.codec import (
    UNSET_DOUBLE,
    as_optional_price,
    decode_payload,
    encode_frame,
    format_field,
    negotiate,
    parse_version_range,
    split_frames,
)


def test_frame_is_length_prefixed_and_every_field_nul_terminated() -> None:
    assert encode_frame(["9", 1, 5]) == b"\x00\x00\x00\x069\x001\x005\x00"


@pytest.mark.parametrize(
    ("value", "text"),
    [(100.0, "100"), (0.5, "0.5"), (2.25, "2.25"), (None, ""), (True, "1"), (False, "0"), (7, "7"),
     (float("inf"), UNSET_DOUBLE), ("SMART", "SMART"), (-3.0, "-3")],
)  # fmt: skip
def test_integral_quantities_have_no_decimal_point(value: object, text: str) -> None:
    assert format_field(value) == text  # type: ignore[arg-type]


def test_split_frames_keeps_an_incomplete_tail() -> None:
    data = encode_frame(["a", "b"]) + encode_frame(["c"])
    frames, rest = split_frames(data + data[:3])
    assert [decode_payload(f) for f in frames] == [["a", "b"], ["c"]]
    assert rest == data[:3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v157..176", (157, 176)), ("v157..176 +PACEAPI", (157, 176)), ("v100..157", (100, 157)), ("x", None)],
)
def test_version_range_parsing(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_version_range(text) == expected


@pytest.mark.parametrize(
    ("lo", "hi", "chosen"),
    [(157, 176, 176), (157, 178, 178), (100, 157, 157), (157, 200, 178), (100, 150, None), (100, 158, 157)],
)
def test_negotiation_picks_min_of_client_max_and_178(lo: int, hi: int, chosen: int | None) -> None:
    assert negotiate(lo, hi) == chosen


def test_unset_and_empty_prices_read_as_missing() -> None:
    assert as_optional_price("") is None
    assert as_optional_price("1.7976931348623157E308") is None
    assert as_optional_price("101.5") == 101.5
