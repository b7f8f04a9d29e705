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
from engine.model.flow import FlowReading

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


READING = FlowReading("AAPL", 40, 1_250.0, 0.2, 1, -300.0, None, 0.004, None, True)


def test_a_flow_reading_round_trips_as_the_generic_walk_decodes_it() -> None:
    """The written-out path for order-flow readings (one per symbol in a market event) gives the
    same object as the generic walk, integers on the wire becoming floats where floats belong."""
    event = MarketEvent(ts=TS, quotes=(QUOTE,), flow=(READING,))
    back = from_jsonable(to_jsonable(event))
    assert back == event
    wire = {**to_jsonable(READING), "ofi": 7, "realized_spread": 3}
    fast = from_jsonable(wire)
    assert fast == dataclasses.replace(READING, ofi=7.0, realized_spread=3.0)
    assert type(fast.ofi) is float and type(fast.realized_spread) is float


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("updates", 1.5, "FlowReading.updates: expected an integer"),
        ("ofi", "x", "FlowReading.ofi: expected a number"),
        ("quote_imbalance", True, "FlowReading.quote_imbalance"),
        ("sizes_invented", 1, "FlowReading.sizes_invented"),
    ],
)
def test_a_faulty_flow_reading_gets_the_generic_error(field: str, value: object, words: str) -> None:
    with pytest.raises(DecodeError, match=words):
        from_jsonable({**to_jsonable(READING), field: value})
