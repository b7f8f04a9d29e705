"""The tax-lot book: every open lot by symbol, account and strategy, folded from tagged fills.

It sits beside the average-cost ``Ledger`` (which keeps cash and marks for the engine): the
ledger answers "what is the position worth", this book answers "which lots, whose, and what did
closing them realize". Conventions (see ``engine.model.lots``): signed quantities, short lots
allowed; basis per unit includes the opening commission; a closing commission reduces the sale
proceeds or adds to the cover's cost; money is x the contract multiplier (100 for an option).

Matching. A closing fill consumes lots of the same symbol *and account* (tax lots live in an
account), the fill's own strategy's lots first, then other strategies' lots, each group in the
order of the lot method (FIFO by default, LIFO, HIFO), unless ``lots`` names specific lots.
Preferring the fill's strategy keeps strategy sleeves intact while never showing a sleeve short
while the account is long at the broker. A closed lot's P&L belongs to the lot's strategy. Any
quantity left once every opposite lot is closed opens a new lot the other way (a sell larger
than the long position opens a short lot for the remainder). A partial close splits the lot:
the closed part becomes a ``RealizedLot``, the rest stays open under the same lot id.

Marks. ``mark`` costs O(1): the book keeps per-symbol aggregate quantity and basis, and the
whole book's market value and basis, and a quote only moves the market value by
``quantity x (new - old) x multiplier``. Lot-level and slice-level figures are computed when
asked (the screens ask; quotes do not).

Today's P&L is ``market value now - market value at the start-of-day mark + today's cash flows``
(trades, commissions, dividends), which counts intraday round trips and needs no lot scan.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from engine.model.lots import (
    DividendCredit,
    Lot,
    LotMethod,
    LotPnL,
    RealizedLot,
    WashSale,
    trade_date,
)
from engine.model.options import contract_multiplier
from engine.model.orders import Fill

_REL_TOL = 1e-9


def _tol(quantity: float) -> float:
    """Quantities closer than this to zero are zero (float residue of fractional splits)."""
    return _REL_TOL * max(1.0, abs(quantity))


@dataclass(slots=True)
class _Symbol:
    multiplier: float
    last: float
    quantity: float = 0.0
    basis: float = 0.0
    """Signed money: sum of quantity x basis x multiplier over the symbol's open lots."""
    sod_value: float = 0.0
    day_cash: float = 0.0


@dataclass(slots=True)
class _Slice:
    """Running figures of one (symbol, account, strategy)."""

    quantity: float = 0.0
    basis: float = 0.0
    realized: float = 0.0
    dividends: float = 0.0
    commissions: float = 0.0
    sod_value: float = 0.0
    day_cash: float = 0.0


class LotBook:
    """Open lots, realized lots and dividends, with O(1) marks. Not thread-safe: one writer."""

    def __init__(self, method: LotMethod = LotMethod.FIFO) -> None:
        self.method = method
        self._pools: dict[tuple[str, str], list[Lot]] = {}
        self._unsorted: set[tuple[str, str]] = set()
        """Pools whose lots were not opened in time order (a fill booked late): FIFO sorts them."""
        self._where: dict[str, tuple[str, str]] = {}
        self._symbols: dict[str, _Symbol] = {}
        self._slices: dict[tuple[str, str, str], _Slice] = {}
        self._realized: list[RealizedLot] = []
        self._realized_at: dict[tuple[str, str], int] = {}
        """(lot id, closing exec id) -> index in ``_realized``: a wash sale finds its sale in O(1)."""
        self._dividends: list[DividendCredit] = []
        self._acquired: list[Lot] = []
        self._seen: set[str] = set()
        self._actions: set[tuple[str, str, date]] = set()
        self._washes: set[tuple[str, str, str]] = set()
        self._market_value = 0.0
        self._basis = 0.0
        self._sod_value = 0.0
        self._day_cash = 0.0
        self._pieces = 0
        self.cash_flow = 0.0
        """Cash the book moved since it began: trades, commissions and dividends (add the starting cash)."""

    # ------------------------------------------------------------------ fills
    def apply_fill(
        self,
        fill: Fill,
        *,
        strategy: str = "",
        account: str = "",
        lots: Sequence[str] | None = None,
        method: LotMethod | None = None,
    ) -> tuple[RealizedLot, ...]:
        """Book one fill; returns the lot pieces it closed (empty when it only opened).

        A fill whose ``exec_id`` was booked already is ignored (fills are deduplicated by it), so
        replaying a fill log twice is harmless. ``lots`` names the lots to close, in order
        (specific identification); when they cover less than the fill while other opposite lots
        are open, it is refused (ValueError) rather than guessed.
        """
        if fill.exec_id in self._seen:
            return ()
        _check_fill(fill)
        key = (fill.symbol, account)
        pool = self._pools.setdefault(key, [])
        order = self._closing_order(pool, fill, account, strategy, lots, method or self.method)
        sym = self._symbols.get(fill.symbol)
        if sym is None:
            sym = self._symbols[fill.symbol] = _Symbol(contract_multiplier(fill.symbol), fill.price)
        elif sym.last == 0.0:
            sym.last = fill.price
        day = trade_date(fill.ts)
        remaining = fill.quantity
        closed: list[RealizedLot] = []
        for lot in order:
            if remaining <= _tol(fill.quantity):
                break
            take = min(remaining, abs(lot.quantity))
            closed.append(self._close(pool, lot, take, fill, day, sym))
            remaining -= take
        if remaining > _tol(fill.quantity):
            self._open(pool, fill, fill.side.sign * remaining, strategy, account, day, sym)
        self._seen.add(fill.exec_id)
        for piece in closed:
            self._realized_at.setdefault((piece.lot_id, piece.exec_id), len(self._realized))
            self._realized.append(piece)
        return tuple(closed)

    def _closing_order(
        self,
        pool: list[Lot],
        fill: Fill,
        account: str,
        strategy: str,
        named: Sequence[str] | None,
        method: LotMethod,
    ) -> list[Lot]:
        signed = fill.side.sign
        if named is None and method is LotMethod.FIFO and (fill.symbol, account) not in self._unsorted:
            # The pool is in opening order already: FIFO is its order, and only the lots this fill
            # closes are read (not every open lot of the symbol, which a long history piles up).
            return _fifo_prefix(pool, signed, strategy, fill.quantity)
        opposite = [lot for lot in pool if lot.quantity * signed < 0]
        if named is not None:
            by_id = {lot.lot_id: lot for lot in opposite}
            missing = [lot_id for lot_id in named if lot_id not in by_id]
            if missing:
                raise ValueError(
                    f"fill {fill.exec_id}: lots {', '.join(missing)} are not open "
                    f"{'long' if signed < 0 else 'short'} lots of {fill.symbol} in account {account!r}"
                )
            if len(set(named)) != len(named):
                raise ValueError(f"fill {fill.exec_id}: a lot is named twice in {list(named)}")
            chosen = [by_id[lot_id] for lot_id in named]
            covered = sum(abs(lot.quantity) for lot in chosen)
            if covered < fill.quantity - _tol(fill.quantity) and len(chosen) < len(opposite):
                raise ValueError(
                    f"fill {fill.exec_id}: the named lots cover {covered:g} of {fill.quantity:g} "
                    f"and other {fill.symbol} lots are open: name enough lots"
                )
            return chosen
        own = _ordered([lot for lot in opposite if lot.strategy == strategy], method)
        others = _ordered([lot for lot in opposite if lot.strategy != strategy], method)
        return own + others

    def _close(
        self, pool: list[Lot], lot: Lot, take: float, fill: Fill, day: date, sym: _Symbol
    ) -> RealizedLot:
        mult = lot.multiplier
        q = math.copysign(take, lot.quantity)
        frac = take / abs(lot.quantity)
        close_comm = fill.commission * take / fill.quantity
        open_comm = lot.commission * frac
        carried = lot.wash_sale_disallowed * frac
        if q > 0:
            proceeds, basis = take * fill.price * mult - close_comm, take * lot.basis * mult
        else:
            proceeds, basis = take * lot.basis * mult, take * fill.price * mult + close_comm
        piece = RealizedLot(
            lot_id=lot.lot_id,
            symbol=lot.symbol,
            account=lot.account,
            strategy=lot.strategy,
            quantity=q,
            opened=lot.open_date,
            closed=day,
            holding_start=lot.holding_start,
            proceeds=proceeds,
            basis=basis,
            price=fill.price,
            commission=open_comm + close_comm,
            multiplier=mult,
            basis_adjustment=carried,
            exec_id=fill.exec_id,
        )
        index = _index(pool, lot.lot_id)
        rest = lot.quantity - q
        if abs(rest) <= _tol(lot.quantity):
            del pool[index]
            del self._where[lot.lot_id]
        else:
            pool[index] = replace(
                lot,
                quantity=rest,
                commission=lot.commission - open_comm,
                wash_sale_disallowed=lot.wash_sale_disallowed - carried,
            )
        delta_basis = q * lot.basis * mult
        cash = q * fill.price * mult - close_comm
        part = self._slice(lot.symbol, lot.account, lot.strategy)
        part.quantity -= q
        part.basis -= delta_basis
        part.realized += piece.gain
        part.commissions += close_comm
        part.day_cash += cash
        self._move(sym, -q, -delta_basis, cash)
        return piece

    def _open(
        self, pool: list[Lot], fill: Fill, q: float, strategy: str, account: str, day: date, sym: _Symbol
    ) -> None:
        mult = sym.multiplier
        open_comm = fill.commission * abs(q) / fill.quantity
        lot_id = fill.exec_id if fill.exec_id not in self._where else self._piece_id(fill.exec_id)
        lot = Lot(
            lot_id=lot_id,
            symbol=fill.symbol,
            account=account,
            strategy=strategy,
            opened=fill.ts,
            quantity=q,
            basis=fill.price + open_comm / (q * mult),
            holding_start=day,
            multiplier=mult,
            commission=open_comm,
            exec_id=fill.exec_id,
        )
        if pool and _later(pool[-1].opened, lot.opened):
            self._unsorted.add((fill.symbol, account))
        pool.append(lot)
        self._where[lot_id] = (fill.symbol, account)
        self._acquired.append(lot)
        delta_basis = q * fill.price * mult + open_comm
        cash = -delta_basis
        part = self._slice(fill.symbol, account, strategy)
        part.quantity += q
        part.basis += delta_basis
        part.commissions += open_comm
        part.day_cash += cash
        self._move(sym, q, delta_basis, cash)

    def _move(self, sym: _Symbol, dq: float, delta_basis: float, cash: float) -> None:
        sym.quantity += dq
        sym.basis += delta_basis
        sym.day_cash += cash
        self._market_value += dq * sym.last * sym.multiplier
        self._basis += delta_basis
        self._day_cash += cash
        self.cash_flow += cash

    def _slice(self, symbol: str, account: str, strategy: str) -> _Slice:
        key = (symbol, account, strategy)
        part = self._slices.get(key)
        if part is None:
            part = self._slices[key] = _Slice()
        return part

    def _piece_id(self, base: str) -> str:
        self._pieces += 1
        return f"{base}/{self._pieces}"

    # ------------------------------------------------------------------ marks
    def marked_symbols(self) -> Collection[str]:
        """The symbols ``mark`` does anything for (a live view): a quote step marks only these."""
        return self._symbols

    def mark(self, symbol: str, price: float) -> bool:
        """Re-mark one symbol in O(1); returns whether the book holds it (so P&L moved)."""
        sym = self._symbols.get(symbol)
        if sym is None:
            return False
        if not (math.isfinite(price) and price >= 0.0):
            raise ValueError(f"mark for {symbol} must be a finite price >= 0, got {price!r}")
        self._market_value += sym.quantity * (price - sym.last) * sym.multiplier
        sym.last = price
        return sym.quantity != 0.0

    def start_day(self, marks: Mapping[str, float] | None = None) -> None:
        """A new session: today's P&L is measured from here, at ``marks`` (e.g. yesterday's closes).

        A symbol missing from ``marks`` starts the day at its current mark.
        """
        marks = marks or {}
        for symbol, sym in self._symbols.items():
            start = marks.get(symbol, sym.last)
            sym.sod_value = sym.quantity * start * sym.multiplier
            sym.day_cash = 0.0
        for (symbol, _account, _strategy), part in self._slices.items():
            sym = self._symbols[symbol]
            part.sod_value = part.quantity * marks.get(symbol, sym.last) * sym.multiplier
            part.day_cash = 0.0
        self._sod_value = sum(sym.sod_value for sym in self._symbols.values())
        self._day_cash = 0.0

    # ------------------------------------------------------------------ corporate actions
    def apply_split(self, symbol: str, ratio: float, ex_date: date) -> int:
        """Split every open lot of ``symbol``: quantity x ratio, basis / ratio; returns lots adjusted.

        Total basis and the holding period are unchanged; fractional shares are kept (no cash in
        lieu). The symbol's mark is divided too so unrealized P&L does not jump before the next
        quote. Options on the symbol are not adjusted (the OCC changes their deliverable instead).
        """
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"split ratio for {symbol} must be positive, got {ratio!r}")
        self._record_action("split", symbol, ex_date)
        note = f"split x{ratio:g} ex {ex_date.isoformat()}"
        count = 0
        for (pool_symbol, _account), pool in self._pools.items():
            if pool_symbol != symbol:
                continue
            for i, lot in enumerate(pool):
                pool[i] = _split_lot(lot, ratio, note)
                count += 1
        self._acquired = [
            _split_lot(lot, ratio, note) if lot.symbol == symbol else lot for lot in self._acquired
        ]
        for (slice_symbol, _account, _strategy), part in self._slices.items():
            if slice_symbol == symbol:
                part.quantity *= ratio
        sym = self._symbols.get(symbol)
        if sym is not None:
            before = sym.quantity * sym.last * sym.multiplier
            sym.quantity *= ratio
            sym.last /= ratio
            self._market_value += sym.quantity * sym.last * sym.multiplier - before
        return count

    def apply_dividend(
        self, symbol: str, per_share: float, ex_date: date, pay_date: date | None = None
    ) -> tuple[DividendCredit, ...]:
        """Credit a cash dividend to every lot of ``symbol`` open now (the holders of record).

        Call it before booking the ex-date's fills: a lot bought on the ex-date gets nothing. Each
        lot's strategy and account is credited ``quantity x per_share``; a short lot pays it
        (negative amount). Cash is booked on the ex-date (accrual); ``pay_date`` is kept for show.
        """
        if not (math.isfinite(per_share) and per_share > 0):
            raise ValueError(f"dividend per share for {symbol} must be positive, got {per_share!r}")
        self._record_action("dividend", symbol, ex_date)
        credits: list[DividendCredit] = []
        for (pool_symbol, _account), pool in self._pools.items():
            if pool_symbol != symbol:
                continue
            for lot in pool:
                amount = lot.quantity * per_share * lot.multiplier
                credits.append(
                    DividendCredit(
                        symbol,
                        lot.lot_id,
                        lot.account,
                        lot.strategy,
                        lot.quantity,
                        per_share,
                        amount,
                        ex_date,
                        pay_date,
                    )
                )
                part = self._slice(symbol, lot.account, lot.strategy)
                part.dividends += amount
                part.day_cash += amount
                self._symbols[symbol].day_cash += amount
                self._day_cash += amount
                self.cash_flow += amount
        self._dividends.extend(credits)
        return tuple(credits)

    def _record_action(self, kind: str, symbol: str, ex_date: date) -> None:
        key = (kind, symbol, ex_date)
        if key in self._actions:
            raise ValueError(f"{kind} of {symbol} ex {ex_date.isoformat()} was applied already")
        self._actions.add(key)

    # ------------------------------------------------------------------ wash sales
    @property
    def wash_sale_count(self) -> int:
        """How many wash sales have been applied (each sale-lot / replacement pair once)."""
        return len(self._washes)

    def apply_wash_sale(self, wash: WashSale) -> Lot | None:
        """Record a wash sale: the sale's disallowed loss, the replacement's tax basis and holding period.

        The sale's realized record gets ``wash_sale_disallowed``. When the replacement lot is still
        open, only the units the sale covers are adjusted: fewer than the lot, and the lot is split
        and the adjusted piece gets a new id (``<lot id>/<n>``). Returns the adjusted lot, or None
        when the replacement is no longer open (its closing must then be corrected on the tax
        report). Economic P&L does not change: the loss happened; only the tax figures move.
        """
        key = (wash.sale_lot_id, wash.sale_exec_id, wash.replacement_lot_id)
        if key in self._washes:
            raise ValueError(
                f"wash sale of lot {wash.sale_lot_id} into lot {wash.replacement_lot_id} was applied already"
            )
        i = self._realized_at.get((wash.sale_lot_id, wash.sale_exec_id))
        if i is None:
            raise ValueError(f"no realized lot {wash.sale_lot_id} closed by fill {wash.sale_exec_id}")
        sale = self._realized[i]
        self._realized[i] = replace(sale, wash_sale_disallowed=sale.wash_sale_disallowed + wash.disallowed)
        self._washes.add(key)
        if wash.replacement_lot_id not in self._where:
            return None
        pool = self._pool_of(wash.replacement_lot_id)
        index = _index(pool, wash.replacement_lot_id)
        lot = pool[index]
        if not lot.is_long:
            raise ValueError(f"wash-sale replacement lot {lot.lot_id} is short")
        quantity = min(wash.quantity, lot.quantity)
        note = (
            f"wash sale +{wash.disallowed:.2f} from lot {wash.sale_lot_id} sold {wash.sale_date.isoformat()}"
        )
        if lot.quantity - quantity > _tol(lot.quantity):
            frac = quantity / lot.quantity
            rest = replace(
                lot,
                quantity=lot.quantity - quantity,
                commission=lot.commission * (1 - frac),
                wash_sale_disallowed=lot.wash_sale_disallowed * (1 - frac),
            )
            piece = replace(
                lot,
                lot_id=self._piece_id(lot.lot_id),
                quantity=quantity,
                commission=lot.commission * frac,
                wash_sale_disallowed=lot.wash_sale_disallowed * frac,
            )
            pool[index : index + 1] = [piece, rest]
            self._where[piece.lot_id] = self._where[lot.lot_id]
            lot = piece
        adjusted = replace(
            lot,
            wash_sale_disallowed=lot.wash_sale_disallowed + wash.disallowed,
            holding_start=wash.holding_start,
            adjustments=(*lot.adjustments, note),
        )
        pool[index] = adjusted
        return adjusted

    def _pool_of(self, lot_id: str) -> list[Lot]:
        where = self._where.get(lot_id)
        if where is None:
            raise ValueError(f"no open lot {lot_id!r}")
        return self._pools[where]

    # ------------------------------------------------------------------ views
    @property
    def realized_lots(self) -> tuple[RealizedLot, ...]:
        return tuple(self._realized)

    @property
    def dividend_credits(self) -> tuple[DividendCredit, ...]:
        return tuple(self._dividends)

    @property
    def acquisitions(self) -> tuple[Lot, ...]:
        """Every lot as it was opened (split-adjusted), open or closed since: wash-sale replacements."""
        return tuple(self._acquired)

    @property
    def acquired_count(self) -> int:
        """How many lots were opened so far: ``acquisitions_since(n)`` then reads only the new ones."""
        return len(self._acquired)

    def acquisitions_since(self, n: int) -> tuple[Lot, ...]:
        """The lots opened after the first ``n`` (no copy of the whole history, unlike ``acquisitions``)."""
        return tuple(self._acquired[n:])

    def lot(self, lot_id: str) -> Lot:
        pool = self._pool_of(lot_id)
        return pool[_index(pool, lot_id)]

    def open_lots(
        self, symbol: str | None = None, *, account: str | None = None, strategy: str | None = None
    ) -> list[Lot]:
        """Open lots, oldest first within each (symbol, account), filtered by what is given."""
        return [
            lot
            for (pool_symbol, pool_account), pool in sorted(self._pools.items())
            if (symbol is None or pool_symbol == symbol) and (account is None or pool_account == account)
            for lot in pool
            if strategy is None or lot.strategy == strategy
        ]

    def quantity(self, symbol: str, account: str | None = None) -> float:
        if account is None:
            sym = self._symbols.get(symbol)
            return sym.quantity if sym else 0.0
        return sum(lot.quantity for lot in self._pools.get((symbol, account), []))

    def last(self, symbol: str) -> float | None:
        sym = self._symbols.get(symbol)
        return sym.last if sym else None

    def market_value(self, symbol: str | None = None) -> float:
        if symbol is None:
            return self._market_value
        sym = self._symbols.get(symbol)
        return sym.quantity * sym.last * sym.multiplier if sym else 0.0

    def unrealized(self, symbol: str | None = None) -> float:
        """Unrealized P&L in money (net of opening commissions), of one symbol or the whole book; O(1)."""
        if symbol is None:
            return self._market_value - self._basis
        sym = self._symbols.get(symbol)
        return sym.quantity * sym.last * sym.multiplier - sym.basis if sym else 0.0

    def day_pnl(self, symbol: str | None = None) -> float:
        """P&L since ``start_day`` (at its marks): marks, trades, commissions and dividends; O(1)."""
        if symbol is None:
            return self._market_value - self._sod_value + self._day_cash
        sym = self._symbols.get(symbol)
        return sym.quantity * sym.last * sym.multiplier - sym.sod_value + sym.day_cash if sym else 0.0

    def realized(self, symbol: str | None = None) -> float:
        return math.fsum(
            part.realized for (s, _a, _t), part in self._slices.items() if symbol is None or s == symbol
        )

    def pnl(
        self, *, symbol: str | None = None, account: str | None = None, strategy: str | None = None
    ) -> LotPnL:
        """Figures of every (symbol, account, strategy) slice matching the filters, summed."""
        rows = [
            self._slice_pnl(s, part)
            for (s, a, t), part in self._slices.items()
            if (symbol is None or s == symbol)
            and (account is None or a == account)
            and (strategy is None or t == strategy)
        ]
        return _sum(rows)

    def pnl_by(self, key: str) -> dict[str, LotPnL]:
        """Figures per ``"symbol"``, ``"account"`` or ``"strategy"``."""
        position = {"symbol": 0, "account": 1, "strategy": 2}.get(key)
        if position is None:
            raise ValueError(f"pnl_by key must be symbol, account or strategy, got {key!r}")
        groups: dict[str, list[LotPnL]] = {}
        for slice_key, part in self._slices.items():
            groups.setdefault(slice_key[position], []).append(self._slice_pnl(slice_key[0], part))
        return {name: _sum(rows) for name, rows in sorted(groups.items())}

    def pnl_by_position(self) -> dict[tuple[str, str], LotPnL]:
        """Figures per (symbol, account): a position as the broker holds it."""
        groups: dict[tuple[str, str], list[LotPnL]] = {}
        for (s, a, _t), part in self._slices.items():
            groups.setdefault((s, a), []).append(self._slice_pnl(s, part))
        return {key: _sum(rows) for key, rows in sorted(groups.items())}

    def slices(self) -> dict[tuple[str, str, str], LotPnL]:
        """Figures per (symbol, account, strategy): the finest grain, which every other view sums."""
        return {key: self._slice_pnl(key[0], part) for key, part in sorted(self._slices.items())}

    def _slice_pnl(self, symbol: str, part: _Slice) -> LotPnL:
        sym = self._symbols[symbol]
        value = part.quantity * sym.last * sym.multiplier
        return LotPnL(
            realized=part.realized,
            unrealized=value - part.basis,
            dividends=part.dividends,
            commissions=part.commissions,
            day=value - part.sod_value + part.day_cash,
            quantity=part.quantity,
            market_value=value,
        )

    @property
    def symbols(self) -> list[str]:
        return sorted(s for s, sym in self._symbols.items() if sym.quantity != 0.0)


def _check_fill(fill: Fill) -> None:
    if not (math.isfinite(fill.quantity) and fill.quantity > 0):
        raise ValueError(f"fill {fill.exec_id}: quantity must be positive, got {fill.quantity!r}")
    if not (math.isfinite(fill.price) and fill.price >= 0):
        raise ValueError(f"fill {fill.exec_id}: price must be a finite number >= 0, got {fill.price!r}")
    if not math.isfinite(fill.commission):
        raise ValueError(f"fill {fill.exec_id}: commission must be finite, got {fill.commission!r}")


def _later(a: datetime, b: datetime) -> bool:
    """``a`` after ``b``; a naive time against an aware one counts as out of order (FIFO then sorts)."""
    try:
        return a > b
    except TypeError:
        return True


def _fifo_prefix(pool: list[Lot], signed: int, strategy: str, quantity: float) -> list[Lot]:
    """The opposite lots, in the pool's order, that a FIFO close of ``quantity`` consumes:
    ``strategy``'s own first, then the others', stopping where ``apply_fill``'s loop stops (the
    same arithmetic), so a close reads the lots it closes, not every open lot of the symbol."""
    if not pool or pool[0].quantity * signed > 0:
        # A pool holds lots of one direction (a fill opens the other way only once every opposite
        # lot is closed): a fill that adds to it closes nothing, without reading it.
        return []
    tol = _tol(quantity)
    remaining = quantity
    out: list[Lot] = []
    for own in (True, False):
        for lot in pool:
            if remaining <= tol:
                return out
            if lot.quantity * signed < 0 and (lot.strategy == strategy) is own:
                out.append(lot)
                remaining -= min(remaining, abs(lot.quantity))
    return out


def _ordered(lots: list[Lot], method: LotMethod) -> list[Lot]:
    fifo = sorted(lots, key=lambda lot: lot.opened)  # stable: same-time lots keep booking order
    if method is LotMethod.FIFO:
        return fifo
    if method is LotMethod.LIFO:
        return fifo[::-1]
    # HIFO: the least gain first: highest basis for long lots, lowest (proceeds held) for short lots.
    return sorted(fifo, key=lambda lot: -lot.basis if lot.quantity > 0 else lot.basis)


def _index(pool: list[Lot], lot_id: str) -> int:
    for i, lot in enumerate(pool):
        if lot.lot_id == lot_id:
            return i
    raise ValueError(f"no open lot {lot_id!r}")


def _split_lot(lot: Lot, ratio: float, note: str) -> Lot:
    return replace(
        lot, quantity=lot.quantity * ratio, basis=lot.basis / ratio, adjustments=(*lot.adjustments, note)
    )


def _sum(rows: Sequence[LotPnL]) -> LotPnL:
    return LotPnL(
        realized=math.fsum(r.realized for r in rows),
        unrealized=math.fsum(r.unrealized for r in rows),
        dividends=math.fsum(r.dividends for r in rows),
        commissions=math.fsum(r.commissions for r in rows),
        day=math.fsum(r.day for r in rows),
        quantity=math.fsum(r.quantity for r in rows),
        market_value=math.fsum(r.market_value for r in rows),
    )
