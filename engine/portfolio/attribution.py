"""Where the P&L of a period came from: by strategy, symbol, sector and account; and Brinson.

P&L attribution (``attribute_pnl``). The book is folded from the tagged fills and corporate
actions up to the day before ``start`` and marked at the last close before ``start`` (the
opening snapshot), then folded through ``end`` and marked at the last close on or before ``end``.
Every figure is the change between the snapshots of one (strategy, account, symbol) row:

    total = realized + unrealized_change + dividends - commissions

where ``realized`` is the price gain of the lot pieces closed in the period *before* costs,
``unrealized_change`` the change of the open lots' price gain before costs, ``dividends``
credited (paid, when short) in the period, and ``commissions`` those paid in the period. That
equals the change of the net figures the ``LotBook`` keeps (``realized + unrealized +
dividends``, commissions inside basis and proceeds), which is how ``total`` is computed;
``unrealized_change`` is what is left once the other three are known. The P&L of a closed lot
belongs to the strategy that opened it (see ``engine.portfolio.lots``). Each grouping (strategy,
symbol, sector, account) partitions the same rows, so every grouping sums to ``total``
(summed with ``math.fsum``; equal to the float rounding of the row figures).

Return attribution: ``contribution = P&L / start_equity`` per key, so contributions add up to
the period's simple return on the starting equity. This is not time-weighted: deposits or large
swings inside the period distort it; for a time-weighted view run the daily Brinson linking below.

Brinson-Fachler (``brinson_fachler``), per sector i with portfolio weight/return wp, rp and
benchmark weight/return wb, rb, and benchmark total return Rb = sum(wb x rb):

    allocation  = (wp - wb) x (rb - Rb)
    selection   = wb x (rp - rb)
    interaction = (wp - wb) x (rp - rb)

Summed over sectors, allocation + selection + interaction = Rp - Rb exactly (weights sum to 1
on both sides, so the Fachler "- Rb" term only moves allocation between sectors: the totals equal
Brinson-Hood-Beebower's). Multi-period (``brinson_linked``): daily effects are linked with
Carino's log factors, so the linked effects sum to the compounded active return
(prod(1 + Rp_t) - prod(1 + Rb_t)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine.model.lots import CorporateAction, LotPnL, TaggedFill
from engine.model.options import OptionContract, is_option_symbol
from engine.portfolio.corporate_actions import replay
from engine.portfolio.lots import LotBook

UNCLASSIFIED = "Unclassified"
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """Money figures of one key over the period; ``contribution`` is ``total / start_equity``."""

    realized: float = 0.0
    unrealized_change: float = 0.0
    dividends: float = 0.0
    commissions: float = 0.0
    total: float = 0.0
    contribution: float | None = None


@dataclass(frozen=True, slots=True)
class PnLAttribution:
    """The period's P&L split four ways; ``rows`` is keyed (strategy, account, symbol)."""

    start: date
    end: date
    total: float
    start_equity: float | None
    rows: Mapping[tuple[str, str, str], AttributionRow]
    by_strategy: Mapping[str, AttributionRow]
    by_symbol: Mapping[str, AttributionRow]
    by_sector: Mapping[str, AttributionRow]
    by_account: Mapping[str, AttributionRow]

    @property
    def total_return(self) -> float | None:
        return None if not self.start_equity else self.total / self.start_equity


def sector_of(symbol: str, sectors: Mapping[str, str]) -> str:
    """The sector of a symbol; an option takes its underlying's; unknown -> ``UNCLASSIFIED``."""
    if symbol in sectors:
        return sectors[symbol]
    if is_option_symbol(symbol):
        return sectors.get(OptionContract.parse(symbol).underlying, UNCLASSIFIED)
    return UNCLASSIFIED


def _mark(book: LotBook, closes: pd.DataFrame, day: date) -> None:
    """Mark every symbol the book knows at its last close on or before ``day``."""
    upto = closes.loc[closes.index <= pd.Timestamp(day)]
    for symbol in book.symbols:
        series = upto[symbol].dropna() if symbol in upto.columns else None
        if series is None or series.empty:
            raise ValueError(f"no close for {symbol} on or before {day.isoformat()}: cannot mark the book")
        book.mark(symbol, float(series.iloc[-1]))


def _snapshot(book: LotBook) -> tuple[dict[tuple[str, str, str], LotPnL], int]:
    rows = {(t, a, s): pnl for (s, a, t), pnl in book.slices().items()}
    return rows, len(book.realized_lots)


def attribute_pnl(
    fills: Sequence[TaggedFill],
    closes: pd.DataFrame,
    start: date,
    end: date,
    *,
    sectors: Mapping[str, str] | None = None,
    actions: Iterable[CorporateAction] = (),
    start_equity: float | None = None,
) -> PnLAttribution:
    """P&L of [start, end] (both days' trading included) by strategy, symbol, sector and account.

    ``closes`` is indexed by session date with one column of closes per symbol; a held symbol
    with no close on or before a snapshot day is a ValueError.
    """
    if end < start:
        raise ValueError(f"attribution period ends ({end}) before it starts ({start})")
    if start_equity is not None and not (math.isfinite(start_equity) and start_equity > 0):
        raise ValueError(f"start_equity must be positive, got {start_equity!r}")
    actions = list(actions)
    before = start - timedelta(days=1)
    book = replay(
        [f for f in fills if f.day <= before], [a for a in actions if a.ex_date <= before], through=before
    )
    _mark(book, closes, before)
    opening, n_before = _snapshot(book)
    replay(
        [f for f in fills if start <= f.day <= end],
        [a for a in actions if start <= a.ex_date <= end],
        book=book,
        through=end,
    )
    _mark(book, closes, end)
    closing, _ = _snapshot(book)
    realized_gross: dict[tuple[str, str, str], float] = {}
    for piece in book.realized_lots[n_before:]:
        key = (piece.strategy, piece.account, piece.symbol)
        realized_gross[key] = realized_gross.get(key, 0.0) + piece.gain + piece.commission
    rows: dict[tuple[str, str, str], AttributionRow] = {}
    for key in sorted(set(opening) | set(closing)):
        rows[key] = _row(opening.get(key, LotPnL()), closing.get(key, LotPnL()), realized_gross.get(key, 0.0))
    total = math.fsum(row.total for row in rows.values())
    sector_map = sectors or {}

    def group(name: str) -> dict[str, AttributionRow]:
        keyed: dict[str, list[AttributionRow]] = {}
        for (strategy, account, symbol), row in rows.items():
            label = {
                "strategy": strategy,
                "account": account,
                "symbol": symbol,
                "sector": sector_of(symbol, sector_map),
            }[name]
            keyed.setdefault(label, []).append(row)
        return {label: _sum_rows(members, start_equity) for label, members in sorted(keyed.items())}

    return PnLAttribution(
        start=start,
        end=end,
        total=total,
        start_equity=start_equity,
        rows={key: _with_contribution(row, start_equity) for key, row in rows.items()},
        by_strategy=group("strategy"),
        by_symbol=group("symbol"),
        by_sector=group("sector"),
        by_account=group("account"),
    )


def _row(opening: LotPnL, closing: LotPnL, realized_gross: float) -> AttributionRow:
    total = (
        (closing.realized - opening.realized)
        + (closing.unrealized - opening.unrealized)
        + (closing.dividends - opening.dividends)
    )
    dividends = closing.dividends - opening.dividends
    commissions = closing.commissions - opening.commissions
    return AttributionRow(
        realized=realized_gross,
        unrealized_change=total - realized_gross - dividends + commissions,
        dividends=dividends,
        commissions=commissions,
        total=total,
    )


def _with_contribution(row: AttributionRow, start_equity: float | None) -> AttributionRow:
    if start_equity is None:
        return row
    return AttributionRow(
        row.realized,
        row.unrealized_change,
        row.dividends,
        row.commissions,
        row.total,
        row.total / start_equity,
    )


def _sum_rows(rows: Sequence[AttributionRow], start_equity: float | None) -> AttributionRow:
    summed = AttributionRow(
        realized=math.fsum(r.realized for r in rows),
        unrealized_change=math.fsum(r.unrealized_change for r in rows),
        dividends=math.fsum(r.dividends for r in rows),
        commissions=math.fsum(r.commissions for r in rows),
        total=math.fsum(r.total for r in rows),
    )
    return _with_contribution(summed, start_equity)


# ---------------------------------------------------------------------- Brinson


@dataclass(frozen=True, slots=True)
class SectorEffect:
    allocation: float
    selection: float
    interaction: float

    @property
    def total(self) -> float:
        return self.allocation + self.selection + self.interaction


@dataclass(frozen=True, slots=True)
class BrinsonResult:
    """Active return split into allocation, selection and interaction, per sector and in total."""

    portfolio_return: float
    benchmark_return: float
    sectors: Mapping[str, SectorEffect] = field(default_factory=dict)

    @property
    def active_return(self) -> float:
        return self.portfolio_return - self.benchmark_return

    @property
    def allocation(self) -> float:
        return math.fsum(e.allocation for e in self.sectors.values())

    @property
    def selection(self) -> float:
        return math.fsum(e.selection for e in self.sectors.values())

    @property
    def interaction(self) -> float:
        return math.fsum(e.interaction for e in self.sectors.values())


def _check_weights(name: str, weights: Mapping[str, float]) -> None:
    for sector, w in weights.items():
        if not math.isfinite(w):
            raise ValueError(f"{name} weight of {sector!r} is not finite: {w!r}")
    total = math.fsum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"{name} weights must sum to 1, they sum to {total:.6g}")


def brinson_fachler(
    portfolio_weights: Mapping[str, float],
    portfolio_returns: Mapping[str, float],
    benchmark_weights: Mapping[str, float],
    benchmark_returns: Mapping[str, float],
) -> BrinsonResult:
    """Single-period Brinson-Fachler by sector (formulas in the module docstring).

    A sector the portfolio does not hold (weight 0, no return) takes the benchmark's sector
    return (no selection to measure); a sector outside the benchmark takes the benchmark's total
    return (no allocation effect: its whole effect is interaction). A sector with weight but no
    return is a ValueError.
    """
    _check_weights("portfolio", portfolio_weights)
    _check_weights("benchmark", benchmark_weights)
    sectors = sorted(set(portfolio_weights) | set(benchmark_weights))
    for name, weights, returns in (
        ("portfolio", portfolio_weights, portfolio_returns),
        ("benchmark", benchmark_weights, benchmark_returns),
    ):
        for sector in sectors:
            r = returns.get(sector)
            if weights.get(sector, 0.0) != 0.0 and r is None:
                raise ValueError(f"{name} return of sector {sector!r} is missing")
            if r is not None and not math.isfinite(r):
                raise ValueError(f"{name} return of sector {sector!r} is not finite: {r!r}")
    rb_total = math.fsum(w * benchmark_returns[s] for s, w in benchmark_weights.items() if w != 0.0)
    rp_total = math.fsum(w * portfolio_returns[s] for s, w in portfolio_weights.items() if w != 0.0)
    effects: dict[str, SectorEffect] = {}
    for sector in sectors:
        wp = portfolio_weights.get(sector, 0.0)
        wb = benchmark_weights.get(sector, 0.0)
        rb = benchmark_returns.get(sector, rb_total)
        rp = portfolio_returns[sector] if wp != 0.0 else rb  # nothing held: no selection to measure
        effects[sector] = SectorEffect(
            allocation=(wp - wb) * (rb - rb_total),
            selection=wb * (rp - rb),
            interaction=(wp - wb) * (rp - rb),
        )
    return BrinsonResult(rp_total, rb_total, effects)


def _carino(rp: float, rb: float) -> float:
    """Carino's k = (ln(1 + rp) - ln(1 + rb)) / (rp - rb), its limit 1 / (1 + r) when equal."""
    if rp <= -1.0 or rb <= -1.0:
        raise ValueError(f"returns must be above -100% to link, got {rp!r} and {rb!r}")
    if abs(rp - rb) < 1e-12:
        return 1.0 / (1.0 + rp)
    return (math.log1p(rp) - math.log1p(rb)) / (rp - rb)


def brinson_linked(periods: Sequence[BrinsonResult]) -> BrinsonResult:
    """Link single-period results (e.g. daily) with Carino: effects sum to the compounded active return."""
    if not periods:
        raise ValueError("brinson_linked needs at least one period")
    rp = math.prod(1.0 + p.portfolio_return for p in periods) - 1.0
    rb = math.prod(1.0 + p.benchmark_return for p in periods) - 1.0
    k_total = _carino(rp, rb)
    linked: dict[str, list[float]] = {}
    for period in periods:
        scale = _carino(period.portfolio_return, period.benchmark_return) / k_total
        for sector, effect in period.sectors.items():
            acc = linked.setdefault(sector, [0.0, 0.0, 0.0])
            acc[0] += effect.allocation * scale
            acc[1] += effect.selection * scale
            acc[2] += effect.interaction * scale
    return BrinsonResult(
        rp, rb, {sector: SectorEffect(a, s, i) for sector, (a, s, i) in sorted(linked.items())}
    )
