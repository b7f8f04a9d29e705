"""Quotes take a written-out path through the codec (a market event of 500 symbols carries 500):
it must produce and accept exactly what the generic dataclass walk does, and leave every faulty
quote to the generic path's errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.model import Quote
from engine.model.codec import DecodeError, from_jsonable, to_jsonable
from engine.model.events import MarketEvent

TS = datetime(2012, 1, 3, 14, 31, tzinfo=UTC)
QUOTE = Quote("AAPL", TS, 410.1, 410.2, 410.15, 300.0, 200.0, 50.0, 12_345.0)


def _generic(q: Quote) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Quote"}
    for f in dataclasses.fields(q):
        value = getattr(q, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def test_a_quote_encodes_as_the_generic_walk_and_round_trips() -> None:
    assert to_jsonable(QUOTE) == _generic(QUOTE)
    assert list(to_jsonable(QUOTE)) == list(_generic(QUOTE))  # the same keys in the same order
    event = MarketEvent(ts=TS, quotes=(QUOTE, dataclasses.replace(QUOTE, symbol="MSFT", volume=7)))
    back = from_jsonable(to_jsonable(event))
    assert back == event
    assert isinstance(back.quotes[1].volume, float)  # an integer on the wire is a float again


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("bid", "410.1", "Quote.bid: expected a number"),
        ("ask", True, "Quote.ask: expected a number"),
        ("ts", "yesterday", "Quote.ts"),
        ("symbol", 7, "Quote.symbol: expected a string"),
    ],
)
def test_a_faulty_quote_gets_the_generic_error(field: str, value: object, words: str) -> None:
    data = to_jsonable(QUOTE) | {field: value}
    with pytest.raises(DecodeError, match=words):
        from_jsonable(data)


def test_a_quote_missing_a_field_is_named() -> None:
    data = to_jsonable(QUOTE)
    del data["last"]
    with pytest.raises(DecodeError, match="missing field 'last'"):
        from_jsonable(data)
