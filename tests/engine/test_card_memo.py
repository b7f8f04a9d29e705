"""The prices cards are sized at (``engine.runtime.card_memo.SizingPrices``): a symbol's price moves
there only once it moved materially, or when a fill touched it; the equity likewise while the
book's holdings stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.model import Quote
from engine.runtime.card_memo import SizingPrices

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def _quote(symbol: str, last: float) -> Quote:
    return Quote(symbol, T0, last - 0.01, last + 0.01, last, 100.0, 100.0, 0.0, 0.0)


def _take(view: SizingPrices, prices: dict[str, float], touched: tuple[str, ...] = ()) -> dict[str, float]:
    sized, _quotes = view.take(prices, {s: _quote(s, p) for s, p in prices.items()}, touched)
    return sized


def test_a_price_moves_only_once_it_moved_materially() -> None:
    view = SizingPrices(0.01)
    assert _take(view, {"AAA": 100.0, "BBB": 50.0}) == {"AAA": 100.0, "BBB": 50.0}
    version = view.version
    assert _take(view, {"AAA": 100.9, "BBB": 49.6}) == {"AAA": 100.0, "BBB": 50.0}
    assert view.version == version, "an immaterial move changed what cards are sized at"
    assert _take(view, {"AAA": 101.0, "BBB": 49.6}) == {"AAA": 101.0, "BBB": 50.0}
    assert view.version == version + 1
    # measured from the price last sized at, not from the last quote: drift adds up
    assert _take(view, {"AAA": 101.5, "BBB": 49.4}) == {"AAA": 101.0, "BBB": 49.4}


def test_a_touched_symbol_takes_its_price_whatever_it_moved() -> None:
    view = SizingPrices(0.01)
    _take(view, {"AAA": 100.0})
    assert _take(view, {"AAA": 100.2}, touched=("AAA",)) == {"AAA": 100.2}


def test_a_symbol_gone_from_the_market_leaves_the_sizing_prices() -> None:
    view = SizingPrices(0.01)
    _take(view, {"AAA": 100.0, "CCC 240119C00100000": 3.0})
    assert _take(view, {"AAA": 100.0}) == {"AAA": 100.0}


def test_the_equity_follows_the_same_rule_while_the_book_is_the_same() -> None:
    view = SizingPrices(0.01)
    book = (("AAA", 10.0),)
    assert view.equity(100_000.0, book) == 100_000.0
    assert view.equity(100_500.0, book) == 100_000.0
    assert view.equity(101_000.0, book) == 101_000.0
    assert view.equity(101_100.0, (("AAA", 20.0),)) == 101_100.0, "a fill's book sized at the old equity"
