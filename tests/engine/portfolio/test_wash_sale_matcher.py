"""The incremental wash-sale matcher gives exactly what the brute-force matching over the whole history gave.

The reference is the engine's previous lot keeping, kept here verbatim: after every fill with a
long loss of the family within the window, ``detect_wash_sales`` over every realized lot and
every acquisition, and each match not recorded yet recorded. Random fill histories (seeded) are
booked by both, and the books, the recorded matches and the notices must be equal after every
fill: fills in time order and out of it, same-day sales whose lot ids sort the other way,
partial closes, short lots, substantially-identical groups (overlapping ones too).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from engine.desk.lots import EngineLots, describe
from engine.model import Fill, Side
from engine.model.lots import Lot, LotMethod, RealizedLot, trade_date
from engine.portfolio.lots import LotBook
from engine.portfolio.tax_loss import WashSaleRules, detect_wash_sales
from engine.portfolio.wash_sales import WashSaleMatcher


class _BruteForceLots(EngineLots):
    """``EngineLots`` as it was: the whole family's matching recomputed after every fill."""

    def _wash_sales(self, fill: Fill, day: date, announce: bool) -> None:
        family = self.rules.family(fill.symbol)
        window = timedelta(days=self.rules.window_days)
        losses = [
            r
            for r in self.book.realized_lots
            if r.symbol in family and r.is_long and r.gain < 0 and abs(r.closed - day) <= window
        ]
        if not losses:
            return
        buys = [lot for lot in self.book.acquisitions if lot.symbol in family]
        sales = [r for r in self.book.realized_lots if r.symbol in family]
        for wash in detect_wash_sales(sales, buys, self.rules):
            key = (wash.sale_lot_id, wash.sale_exec_id, wash.replacement_lot_id)
            if key in self._applied:
                continue
            self._applied.add(key)
            try:
                self.book.apply_wash_sale(wash)
            except ValueError as exc:
                self._notice("error", f"wash sale not recorded: {exc}")
                continue
            if announce:
                self._notice("warning", describe(wash))


@dataclass(frozen=True, slots=True)
class _Case:
    seed: int
    groups: tuple[tuple[str, ...], ...]
    shuffle: float
    """Share of fills whose timestamp is pushed back before earlier fills' (arriving out of order)."""


CASES = [
    _Case(1, (), 0.0),
    _Case(2, (), 0.0),
    _Case(3, (("SPY", "IVV"),), 0.0),
    _Case(4, (("SPY", "IVV"),), 0.1),
    _Case(5, (("SPY", "IVV"), ("IVV", "VOO")), 0.05),
    _Case(6, (), 0.2),
    _Case(7, (("SPY", "IVV", "VOO"),), 0.0),
    _Case(8, (("AAPL", "SPY"),), 0.1),
]
SYMBOLS = ("AAPL", "SPY", "IVV", "VOO")


def _history(case: _Case, n: int = 400) -> list[Fill]:
    """Random fills over ~150 calendar days: buys, loss and gain sales, buy-backs inside the window."""
    rng = random.Random(case.seed)
    prices = {s: 100.0 for s in SYMBOLS}
    held = dict.fromkeys(SYMBOLS, 0.0)
    ts = datetime(2024, 1, 2, 14, 30)
    out: list[Fill] = []
    for k in range(n):
        ts += timedelta(hours=rng.choice((0, 1, 3, 9, 24, 24, 48, 72)))
        symbol = rng.choice(SYMBOLS)
        prices[symbol] = round(max(1.0, prices[symbol] * (1 + rng.gauss(0, 0.04))), 2)
        sell = held[symbol] > 0 and rng.random() < 0.5
        if sell:
            quantity = float(rng.choice((held[symbol], rng.randint(1, int(held[symbol]) + 1))))
            if rng.random() < 0.05:
                quantity += 5.0  # beyond the position: a short lot opens
        else:
            quantity = float(rng.randint(1, 40))
        held[symbol] += -quantity if sell else quantity
        when = ts
        if case.shuffle and rng.random() < case.shuffle:
            when = ts - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 5))
        side = Side.SELL if sell else Side.BUY
        # exec ids without padding: "e9" sorts after "e10", so same-day sales arrive out of lot-id order
        out.append(Fill(f"e{k}", f"o{k}", symbol, side, quantity, prices[symbol], 1.0, when))
    return out


def _state(lots: EngineLots) -> tuple[object, ...]:
    book = lots.book
    return (book.realized_lots, tuple(book.open_lots()), frozenset(lots._applied))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c.seed}")
def test_incremental_matching_equals_the_brute_force_after_every_fill(case: _Case) -> None:
    rules = WashSaleRules(30, case.groups)
    notes_new: list[tuple[str, str]] = []
    notes_old: list[tuple[str, str]] = []
    new = EngineLots(rules, lambda level, text: notes_new.append((level, text)))
    old = _BruteForceLots(rules, lambda level, text: notes_old.append((level, text)))
    for fill in _history(case):
        new.apply(fill, "manual", None)
        old.apply(fill, "manual", None)
        assert _state(new) == _state(old), f"books differ after fill {fill.exec_id}"
        assert notes_new == notes_old
    washed = [r for r in new.book.realized_lots if r.wash_sale_disallowed > 0]
    adjusted = [lot for lot in new.book.open_lots() if lot.wash_sale_disallowed > 0]
    carried = [r for r in new.book.realized_lots if r.basis_adjustment > 0]
    assert len(new._applied) >= 20, "the history must exercise wash sales"
    assert washed and (adjusted or carried)
    assert sum(level == "warning" and "wash sale" in text for level, text in notes_new) == len(new._applied)
    assert new.recent_fills(date(2024, 3, 1)) == old.recent_fills(date(2024, 3, 1))


def test_the_fold_at_start_records_the_same_wash_sales_quietly() -> None:
    case = CASES[4]
    rules = WashSaleRules(30, case.groups)
    notes: list[tuple[str, str]] = []
    new = EngineLots(rules, lambda level, text: notes.append((level, text)))
    old = _BruteForceLots(rules, lambda level, text: notes.append((level, text)))
    fills = _history(case)
    new.fold(fills, {}, {})
    old.fold(fills, {}, {})
    assert len(new._applied) >= 20
    assert _state(new) == _state(old)
    assert all("wash sale:" not in text for _level, text in notes)


def _lots(seed: int, n: int = 300) -> tuple[list[tuple[int, Lot]], list[tuple[int, RealizedLot]]]:
    """Random purchases and long sales (losses and gains) of two identical symbols over 200 days."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 2, 15, 0)
    buys: list[tuple[int, Lot]] = []
    sales: list[tuple[int, RealizedLot]] = []
    for k in range(n):
        symbol = rng.choice(("SPY", "IVV"))
        when = start + timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 300))
        quantity = float(rng.randint(1, 30)) + rng.choice((0.0, 0.5))
        if rng.random() < 0.5:
            # unique ids (as the book's acquisitions have), some of them pieces of another lot
            lot_id = f"b{k}" if rng.random() < 0.8 else f"b{rng.randint(0, n)}/{k}"
            buys.append((k, Lot(lot_id, symbol, "", "", when, quantity, 100.0, when.date())))
        else:
            lot_id = f"b{rng.randint(0, n)}"
            closed = when.date()
            held = timedelta(days=rng.randint(0, 400))
            proceeds = quantity * rng.uniform(80, 120)
            sales.append(
                (
                    k,
                    RealizedLot(
                        lot_id,
                        symbol,
                        "",
                        "",
                        quantity if rng.random() < 0.9 else -quantity,
                        closed - held,
                        closed,
                        closed - held,
                        proceeds,
                        quantity * 100.0,
                        proceeds / quantity,
                        basis_adjustment=rng.choice((0.0, 0.0, 25.0)),
                        exec_id=f"s{k}",
                    ),
                )
            )
    return buys, sales


@pytest.mark.parametrize("seed", range(6))
def test_the_matcher_fed_in_any_order_equals_detect_wash_sales(seed: int) -> None:
    rules = WashSaleRules(30, (("SPY", "IVV"),))
    buys, sales = _lots(seed)
    rng = random.Random(seed)
    items: list[tuple[str, int, Lot | RealizedLot]] = [("buy", k, lot) for k, lot in buys]
    items += [("sale", k, piece) for k, piece in sales]
    rng.shuffle(items)
    matcher = WashSaleMatcher(rules, frozenset({"SPY", "IVV"}), lambda _key: False)
    for n, (kind, k, item) in enumerate(items, start=1):
        if kind == "buy":
            assert isinstance(item, Lot)
            matcher.add_purchase(item, k)
        else:
            assert isinstance(item, RealizedLot)
            matcher.add_sale(item, k)
        if n % 25 == 0 or n == len(items):
            seen_buys = sorted((k2, x) for kind2, k2, x in items[:n] if kind2 == "buy")
            seen_sales = sorted((k2, x) for kind2, k2, x in items[:n] if kind2 == "sale")
            expected = detect_wash_sales(
                [x for _k, x in seen_sales if isinstance(x, RealizedLot)],
                [x for _k, x in seen_buys if isinstance(x, Lot)],
                rules,
            )
            assert matcher.matches() == expected
    assert len(matcher.matches()) >= 30
    assert matcher.recomputed > 0, "out-of-order lots must have made the greedy run again"
    assert matcher.take_pending() == matcher.matches()
    assert matcher.take_pending() == []


def test_a_buy_after_an_unmatched_loss_takes_only_what_the_sale_still_misses() -> None:
    rules = WashSaleRules()
    matcher = WashSaleMatcher(rules, frozenset({"X"}), lambda _key: False)
    day = datetime(2024, 5, 1, 15, 0)
    sale = RealizedLot(
        "a", "X", "", "", 10.0, date(2024, 1, 2), day.date(), date(2024, 1, 2), 900.0, 1000.0, 90.0
    )
    matcher.add_sale(sale, 0)
    assert matcher.matches() == []
    matcher.add_purchase(Lot("b", "X", "", "", day + timedelta(days=3), 4.0, 91.0, day.date()), 0)
    matcher.add_purchase(Lot("c", "X", "", "", day + timedelta(days=31), 9.0, 91.0, day.date()), 1)
    matcher.add_purchase(Lot("d", "X", "", "", day + timedelta(days=30), 9.0, 91.0, day.date()), 2)
    got = [(w.replacement_lot_id, w.quantity, w.disallowed) for w in matcher.matches()]
    assert got == [("b", 4.0, 40.0), ("d", 6.0, 60.0)]
    assert trade_date(day) == sale.closed


class _SortingBook(LotBook):
    """``LotBook`` that always takes the sorting path for FIFO (the fast path's reference)."""

    def __init__(self) -> None:
        super().__init__(LotMethod.FIFO)

    def _closing_order(
        self,
        pool: list[Lot],
        fill: Fill,
        account: str,
        strategy: str,
        named: Sequence[str] | None,
        method: LotMethod,
    ) -> list[Lot]:
        self._unsorted.add((fill.symbol, account))
        return super()._closing_order(pool, fill, account, strategy, named, method)


@pytest.mark.parametrize("case", CASES[:6], ids=lambda c: f"seed{c.seed}")
def test_fifo_reading_only_the_lots_it_closes_books_what_sorting_every_lot_booked(case: _Case) -> None:
    fast, slow = LotBook(LotMethod.FIFO), _SortingBook()
    rng = random.Random(case.seed)
    for fill in _history(case):
        strategy = rng.choice(("a", "b", "manual"))
        fast.apply_fill(fill, strategy=strategy)
        slow.apply_fill(fill, strategy=strategy)
        assert fast.realized_lots == slow.realized_lots
        assert fast.open_lots() == slow.open_lots()
    assert len(fast.realized_lots) > 100
    assert (not fast._unsorted) is (case.shuffle == 0.0), "out-of-order fills must take the sorting path"
