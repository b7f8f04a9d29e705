"""A quote step as columns (``engine.model.quote_batch``): a ``QuoteBatch`` reads as the quotes it
was made from, makes each quote object once and only when read; ``LatestQuotes`` answers what a
dict of newest quotes would, whatever mix of batches and single quotes it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.model import Quote
from engine.model.codec import from_jsonable, to_jsonable
from engine.model.events import MarketEvent
from engine.model.quote_batch import FIELDS, LatestQuotes, QuoteBatch, SlotTable

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


def _quote(symbol: str, k: int, seconds: int = 0) -> Quote:
    return Quote(
        symbol, T0 + timedelta(seconds=seconds), 10.0 + k, 10.1 + k, 10.05 + k, 100.0, 200.0, 5.0, 50.0 * k
    )


def test_a_batch_reads_as_its_quotes_and_makes_each_once() -> None:
    quotes = (_quote("A", 1), _quote("B", 2), _quote("A", 3))
    values = np.array([[getattr(q, f) for q in quotes] for f in FIELDS])
    batch = QuoteBatch(("A", "B", "A"), T0, values)
    assert batch._made is None, "nothing is made until read"
    assert batch == quotes and quotes == batch and list(batch) == list(quotes)
    assert batch[1] is batch[1] and batch[-1] == quotes[2]
    assert not batch.unique and batch.positions == {"A": 2, "B": 1}
    assert batch.in_order({"A"}) == [0, 2]
    kept = batch.take(np.array([True, False, True]))
    assert kept == (quotes[0], quotes[2]) and kept.symbols == ("A", "A")
    assert batch.take(np.ones(3, dtype=bool)) is batch
    with pytest.raises(ValueError, match="needs values of shape"):
        QuoteBatch(("A",), T0, values)


def test_a_batch_of_quotes_with_their_own_times() -> None:
    quotes = (_quote("A", 1, seconds=0), _quote("B", 2, seconds=1))
    batch = QuoteBatch.of(quotes)
    assert batch.stamp is None and batch.stamps == (quotes[0].ts, quotes[1].ts)
    assert batch[0] is quotes[0], "a batch of objects hands back those objects"
    assert batch.bid.tolist() == [11.0, 12.0] and batch.volume.tolist() == [50.0, 100.0]


def test_a_market_event_of_a_batch_crosses_the_wire_as_quotes() -> None:
    batch = QuoteBatch.of((_quote("A", 1), _quote("B", 2)))
    event = MarketEvent(ts=T0, quotes=batch)
    back = from_jsonable(to_jsonable(event))
    assert back == event and isinstance(back.quotes, tuple) and back.quotes[1].symbol == "B"


def test_latest_quotes_answers_as_a_dict_would() -> None:
    """Batches of changing symbol sets and single quotes in a seeded random order: after each,
    every lookup equals a plain dict kept quote by quote; a feed of one symbol set keeps one layer."""
    rng = np.random.default_rng(5)
    names = ("A", "B", "C", "D", "E")
    latest, plain = LatestQuotes(keep=3), {}
    for k in range(1, 401):
        if rng.random() < 0.3:
            q = _quote(names[int(rng.integers(0, 5))], k)
            latest[q.symbol] = q
            plain[q.symbol] = q
        else:
            picked = [names[i] for i in rng.choice(5, size=int(rng.integers(1, 6)), replace=True)]
            batch = QuoteBatch.of(tuple(_quote(s, k + i) for i, s in enumerate(picked)))
            latest.add(batch)
            plain.update((q.symbol, q) for q in batch)
        assert latest.as_dict() == plain and len(latest) == len(plain)
        assert all(latest[s] == plain[s] for s in plain) and set(latest) == set(plain)
        assert ("Z" in latest) is False and latest.get("Z") is None
    steady, same = LatestQuotes(), ("A", "B")
    for step in range(5):
        steady.add(QuoteBatch(same, T0, np.full((len(FIELDS), 2), float(step + 1))))
        steady["A"] = _quote("A", step)  # the broker's own matching sets one now and then
    steady.add(QuoteBatch(same, T0, np.full((len(FIELDS), 2), 9.0)))
    assert len(steady._layers) == 1 and steady["B"].bid == 9.0 and steady["A"].bid == 9.0


def test_slots_are_given_in_first_seen_order_and_kept() -> None:
    table = SlotTable()
    first = ("X", "Y")
    assert table.of(first).tolist() == [0, 1] and table.of(first) is table.of(first)
    assert table.of(("Y", "Z", "X")).tolist() == [1, 2, 0] and table.names == ["X", "Y", "Z"]
    assert table.get("Z") == 2 and table.get("W") is None
