"""What a card re-size reuses from the one before: the prices it sizes at, and the cards whose
inputs did not move (issue 18: re-sizing every card every half hour was 73-81% of the engine's CPU
at 500 symbols, while a half hour moves few of them enough to change a card).

``SizingPrices`` holds the price (and the quote) each symbol was last sized at. A symbol keeps it
until its current price has moved by ``material`` (``[cards] material_move``, a fraction of the
price: 1% by default) from it, then takes the current one. That is the rule the shown cards
already lived by between re-sizes (a move re-sized them at once only from 1%): a card's size is
kept within 5% of a limit (``book.HEADROOM``), so a move under 1% leaves a valid card valid. The
book's equity follows the same rule while the book's holdings, working orders and cash stay as
they were; when they change (a fill, an order) it is taken as it is.

``CardMemo`` is ``build_card`` with a memory: a candidate built against a book equal (in what
``build_card`` reads of it) to one it was built against before, at the same prices of its own
symbols, gets the same card back (sized at that card's ``asof``) instead of being built again.
Because the prices are snapped, most candidates find their card; only those whose symbols moved,
or all when the book itself changed, are built again. What ``build_card`` reads of a book:
equity, free cash, the positions and their prices (values, gross, sectors, the book's returns for
the correlation), the working symbols, the currency pairs' prices (conversions), the candidate's
own symbols' prices and quotes (size, levels, plan and cost); the rest (limits, sectors,
liquidity, specs) is fixed for a session, and the memo is cleared when a new scan comes in.

Below the first shown card the generator sizes each candidate against the book as the cards
above it would leave it (``Book.commit``). There the memo compares that book's real part exactly
(as above) and the part the cards above add (their legs) by symbol and side exactly and by
quantity within ``WALK_TOLERANCE``: when a card above moved 1% its size moves about as much, and
what it leaves the cards below moves by a share of it far inside the 5% headroom each keeps; a
card below would otherwise be built again for every move of any card above it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping

from engine.model import Quote, StrategyCard
from engine.strategies.book import Book
from engine.strategies.generator import BuildFn, CheckFn, Context, PlanFn, build_card, check_card
from engine.strategies.scan import Candidate
from engine.strategies.validation import Rejection

WALK_TOLERANCE = 0.05
"""How far (a fraction) the quantity of a leg the cards above commit may have moved and a card
below still be reused: the margin ``book.HEADROOM`` leaves under every limit."""


class SizingPrices:
    """The prices and quotes cards are sized at (see the module's docstring)."""

    def __init__(self, material: float) -> None:
        self.material = material
        self.prices: dict[str, float] = {}
        self.quotes: dict[str, Quote] = {}
        self.version = 0
        """Bumped whenever a price or a quote cards are sized at changes."""
        self._equity: float | None = None
        self._composition: Hashable = None

    def take(
        self, prices: Mapping[str, float], quotes: Mapping[str, Quote], touched: Iterable[str] = ()
    ) -> tuple[dict[str, float], dict[str, Quote]]:
        """The prices and quotes to size at now: a symbol's reference unless its price moved by
        ``material`` from it (or it is ``touched``: a fill's symbol is taken as it is)."""
        ref, refq, m = self.prices, self.quotes, self.material
        forced = set(touched)
        changed = len(ref) != len(prices) or any(s not in prices for s in ref)
        for sym, price in prices.items():
            old = ref.get(sym)
            quote = quotes.get(sym)
            if sym not in forced and old is not None and _within(price, old, m):
                if quote is not None and sym not in refq:
                    refq[sym] = quote  # its first quote: the plan costs it from the quote
                    changed = True
                continue
            if old != price or refq.get(sym) is not quote:
                changed = True
            ref[sym] = price
            if quote is not None:
                refq[sym] = quote
            else:
                refq.pop(sym, None)
        if changed:
            for sym in [s for s in ref if s not in prices]:
                del ref[sym]
                refq.pop(sym, None)
            self.version += 1
        return dict(ref), dict(refq)

    def equity(self, value: float, composition: Hashable) -> float:
        """The equity to size at: the last one while the book's ``composition`` (holdings, working
        orders, cash) is the same and the equity moved less than ``material`` from it."""
        old = self._equity
        if old is None or composition != self._composition or not _within(value, old, self.material):
            self._equity, self._composition = value, composition
            self.version += 1
            return value
        return old


_Entry = tuple[Hashable, Candidate, StrategyCard, tuple[float, ...]]
"""(the candidate's own prices and quotes, the candidate, its card, the quantities the cards above
it had added to the book)."""


def _close(now: tuple[float, ...], then: tuple[float, ...]) -> bool:
    return all(abs(a - b) <= WALK_TOLERANCE * b for a, b in zip(now, then, strict=True))


def _within(price: float, ref: float, material: float) -> bool:
    if math.isnan(price) and math.isnan(ref):
        return True
    return abs(price - ref) < material * abs(ref)


class CardMemo:
    """``build_card`` results kept between re-sizes (see the module's docstring)."""

    def __init__(self) -> None:
        self._cards: dict[Hashable, _Entry] = {}
        self._checks: dict[Hashable, tuple[StrategyCard, tuple[StrategyCard, ...], Rejection | None]] = {}
        self._pairs: tuple[Mapping[str, float], Hashable] | None = None

    def clear(self) -> None:
        self._cards, self._checks = {}, {}

    def builder(self, quotes: Mapping[str, Quote]) -> tuple[BuildFn, CheckFn, Callable[[], None]]:
        """A ``build_card`` and a ``check_card`` for one proposal at these (snapped) quotes, and
        a function to call when the proposal is done: the memo then keeps what this proposal
        used, and only that. A check is reused only for the same card (the same object), a book
        equal to the one it was made on (the cards above it exactly the same) and the same
        cards shown above it."""
        kept, kept_checks = self._cards, self._checks
        used: dict[Hashable, _Entry] = {}
        used_checks: dict[Hashable, tuple[StrategyCard, tuple[StrategyCard, ...], Rejection | None]] = {}
        books: dict[int, tuple[Book, Hashable, tuple[float, ...]]] = {}

        def build(candidate: Candidate, ctx: Context, book: Book, plan: PlanFn) -> StrategyCard:
            known = books.get(id(book))
            if known is None or known[0] is not book:
                known = books[id(book)] = (book, *self._walk_key(book, ctx.book, books))
            _book, walk, added = known
            key = (id(candidate), walk, ctx.asof.date(), ctx.session_day, id(ctx.policy))
            own = tuple((book.prices.get(s), quotes.get(s)) for s in candidate.setup.symbols)
            hit = kept.get(key)
            if (
                hit is not None
                and hit[1] is candidate
                and hit[0] == own
                and (added == hit[3] or _close(added, hit[3]))
            ):
                used[key] = hit
                return hit[2]
            card = build_card(candidate, ctx, book, plan)
            used[key] = (own, candidate, card, added)
            return card

        def check(
            card: StrategyCard, candidate: Candidate, ctx: Context, book: Book, shown: list[StrategyCard]
        ) -> Rejection | None:
            known = books.get(id(book))
            if known is None or known[0] is not book:
                known = books[id(book)] = (book, *self._walk_key(book, ctx.book, books))
            key = (
                id(card),
                known[1],
                known[2],
                tuple(map(id, shown)),
                ctx.paused,
                tuple(sorted(ctx.template_positions.items())),
                ctx.market_open,
                id(ctx.policy),
            )
            hit = kept_checks.get(key)
            if hit is not None and hit[0] is card and all(a is b for a, b in zip(hit[1], shown, strict=True)):
                used_checks[key] = hit
                return hit[2]
            why = check_card(card, candidate, ctx, book, shown)
            used_checks[key] = (card, tuple(shown), why)
            return why

        def done() -> None:
            self._cards, self._checks = used, used_checks

        return build, check, done

    def _walk_key(
        self, book: Book, base: Book, books: dict[int, tuple[Book, Hashable, tuple[float, ...]]]
    ) -> tuple[Hashable, tuple[float, ...]]:
        """The book's key: the real book's (``base``) and what the cards above added to it, by
        symbol and side (in the key) and by quantity (compared within ``WALK_TOLERANCE``)."""
        known = books.get(id(base))
        base_key = known[1] if known is not None and known[0] is base else self._book_key(base)
        if book is base:
            return base_key, ()
        added = sorted(
            (s, q - base.positions.get(s, 0.0))
            for s, q in book.positions.items()
            if q != base.positions.get(s, 0.0)
        )
        sides = tuple((s, d > 0) for s, d in added)
        taken = (*(abs(d) for _s, d in added), abs(base.cash - book.cash))
        return (base_key, sides, book.working_symbols), taken

    def _book_key(self, book: Book) -> Hashable:
        positions = tuple(sorted(book.positions.items()))
        held = tuple(book.prices.get(s) for s, _q in positions)
        return (
            book.equity,
            book.cash,
            positions,
            held,
            book.working_symbols,
            self._pair_prices(book.prices),
            book.limits,
            book.allow_short,
            book.allow_fractional,
            book.broker_fractional,
            book.can_trade_options,
            book.account_currency,
        )

    def _pair_prices(self, prices: Mapping[str, float]) -> Hashable:
        """The prices a currency conversion may read (``engine.model.fx``: six-letter pair names),
        once per price snapshot (a proposal's books share theirs)."""
        last = self._pairs
        if last is not None and last[0] is prices:
            return last[1]
        token = tuple((s, p) for s, p in prices.items() if len(s) == 6 and s.isalpha())
        self._pairs = (prices, token)
        return token
