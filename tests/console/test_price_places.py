"""Prices are shown to their instrument's tick: a currency pair in cents would hide every pip."""

from __future__ import annotations

from datetime import UTC, datetime

from console.widgets.fmt import price, price_places
from console.widgets.quotes import quote_row
from engine.model import Quote


def test_a_price_has_its_ticks_places() -> None:
    assert price_places("AAPL") == 2  # tick 0.01
    assert price_places("EURUSD") == 5  # tick 0.00001: the pip is the 4th place
    assert price_places("USDJPY") == 3  # tick 0.001: the pip is the 2nd place
    assert price(1.17236, "EURUSD") == "1.17236"
    assert price(1234.5, "AAPL") == "1,234.50"
    assert price(112.4567, "USDJPY") == "112.457"


def test_the_quotes_pane_shows_a_pairs_pips() -> None:
    ts = datetime(2017, 10, 2, 15, tzinfo=UTC)
    quote = Quote("EURUSD", ts, 1.17231, 1.17243, 1.17237, 1e6, 1e6, 0.0, 0.0)
    _, cells = quote_row(quote, 1.17900, ts)
    assert [c.plain for c in cells[1:4]] == ["1.17231", "1.17243", "1.17237"]
    stock = Quote("AAPL", ts, 154.1, 154.12, 154.11, 100.0, 100.0, 0.0, 0.0)
    _, cells = quote_row(stock, 153.0, ts)
    assert [c.plain for c in cells[1:4]] == ["154.10", "154.12", "154.11"]
