"""Build the ``PortfolioReport`` of a period from tagged fills and daily closes: a pure function.

The same inputs always give the same report, so the console's screen (the live engine's book)
and ``onetap report portfolio`` (the database after the fact) agree, and tests can work a small
history out by hand.

How the figures are made, and why:

* **Equity curve.** One ``LotBook`` is folded forward session by session: a session takes the
  fills of its date (and of any non-session day since the previous one), then every held
  symbol is marked at that session's close. ``equity = starting cash + the book's cash flow +
  market value``: the book, not the engine's ledger, so the curve needs nothing but fills and
  closes. A symbol with no close (an option) is marked at its last fill price.
* **Returns** come from the curve's daily returns through ``engine.research.metrics`` (the same
  definitions the research screen uses), so a Sharpe ratio here means what it means there.
* **Attribution** is ``attribute_pnl`` on the same fills and marks; each table sums to the change
  of equity (no deposits are modelled, so P&L is the change of equity).
* **Brinson-Fachler** by sector, one period per session, linked with Carino. A sector's weight is
  its value at the previous close plus the capital its fills opened that day (so a position
  bought and sold inside one day still has a base), its return is its day's P&L on that base, and
  the rest of the equity is a ``Cash`` sector earning nothing. So the sector contributions add up
  to exactly the equity curve's return each day, and the linked effects to its compounded return
  minus the benchmark's.
* **VaR** replays today's book (the end positions) over the period's daily close-to-close moves:
  a historical simulation with the period as its window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.model.lots import CorporateAction, HoldingTerm, TaggedFill
from engine.model.market import Instrument
from engine.model.options import contract_multiplier
from engine.model.orders import Fill, Order, StrategyCard
from engine.model.portfolio_report import (
    AttributionLine,
    BrinsonFigures,
    BrinsonLine,
    DividendLine,
    EquityPoint,
    ExposureFigures,
    PeriodRisk,
    PortfolioReport,
    RealizedGainLine,
    RealizedGains,
    ReturnFigures,
    SectorExposure,
)
from engine.portfolio.attribution import (
    AttributionRow,
    BrinsonResult,
    attribute_pnl,
    brinson_fachler,
    brinson_linked,
    sector_of,
)
from engine.portfolio.corporate_actions import apply_action, sort_actions
from engine.portfolio.lots import LotBook
from engine.research import metrics

CASH = "Cash"
"""The sector the uninvested equity sits in for Brinson; it earns nothing."""
VAR_CONFIDENCE = 0.95
MIN_VAR_OBSERVATIONS = 10
"""Fewer daily moves than this and the period's VaR is not reported: a quantile of a handful of
days says nothing about the tail (the report says how many there were)."""
_EPS = 1e-9


@dataclass(slots=True)
class _Day:
    """What one session did to the book, per symbol: the inputs of its Brinson period."""

    start_values: dict[str, float] = field(default_factory=dict)
    opened: dict[str, float] = field(default_factory=dict)
    """Signed money of the fills' opening parts (buys that add to a long, sells that add to a short)."""
    cash: dict[str, float] = field(default_factory=dict)
    """Trade cash, commissions and dividends of the day."""


def build_portfolio_report(
    fills: Sequence[TaggedFill],
    closes: pd.DataFrame,
    *,
    start: date,
    end: date,
    starting_cash: float,
    sectors: Mapping[str, str] | None = None,
    universe: Sequence[str] = (),
    benchmark_weights: Mapping[str, float] | None = None,
    actions: Iterable[CorporateAction] = (),
    var_min_observations: int = MIN_VAR_OBSERVATIONS,
) -> PortfolioReport:
    """The report of [start, end] (both sessions' trading included).

    ``closes`` is indexed by session date with one column of closes per symbol; its sessions in
    the period are the curve's points. ``benchmark_weights`` (by symbol, normalised to sum to 1)
    defaults to ``universe`` equal-weighted. A ValueError names what is missing or wrong.
    """
    if end < start:
        raise ValueError(f"the report period ends ({end}) before it starts ({start})")
    if not (math.isfinite(starting_cash) and starting_cash > 0):
        raise ValueError(f"starting cash must be positive, got {starting_cash!r}")
    sector_map = dict(sectors or {})
    actions = sort_actions(actions)
    ordered = sorted(fills, key=lambda f: f.fill.ts)
    marks = _marks(closes, ordered, end)
    sessions = [ts.date() for ts in marks.index if start <= ts.date() <= end]
    if not sessions:
        raise ValueError(f"no trading session with closes between {start} and {end}")
    weights, benchmark = _benchmark(universe, benchmark_weights)

    book = LotBook()
    feeder = _Feeder(book, ordered, actions)
    opening_day = start - timedelta(days=1)
    feeder.advance(opening_day, None)
    _mark(book, marks, opening_day)
    start_equity = starting_cash + book.cash_flow + book.market_value()
    previous_equity = start_equity
    peak = start_equity
    curve: list[EquityPoint] = []
    periods: list[BrinsonResult] = []
    weight_sums: dict[str, list[float]] = {}
    for day in sessions:
        record = _Day(start_values=_values(book))
        feeder.advance(day, record)
        _mark(book, marks, day)
        values = _values(book)
        equity = starting_cash + book.cash_flow + book.market_value()
        peak = max(peak, equity)
        long_value = math.fsum(v for v in values.values() if v > 0)
        short_value = math.fsum(-v for v in values.values() if v < 0)
        curve.append(
            EquityPoint(
                day=day,
                equity=equity,
                cash=starting_cash + book.cash_flow,
                long_value=long_value,
                short_value=short_value,
                daily_return=equity / previous_equity - 1.0 if previous_equity > 0 else 0.0,
                drawdown=equity / peak - 1.0 if peak > 0 else 0.0,
            )
        )
        if previous_equity > 0:
            period = _brinson_day(record, values, previous_equity, marks, day, sector_map, weights)
            periods.append(period[0])
            for sector, (wp, wb) in period[1].items():
                acc = weight_sums.setdefault(sector, [0.0, 0.0])
                acc[0] += wp
                acc[1] += wb
        previous_equity = equity

    end_equity = curve[-1].equity
    attribution = attribute_pnl(
        ordered, marks, start, end, sectors=sector_map, actions=actions, start_equity=start_equity
    )
    traded = math.fsum(
        f.fill.quantity * f.fill.price * contract_multiplier(f.fill.symbol)
        for f in ordered
        if start <= f.day <= end
    )
    average_equity = math.fsum(p.equity for p in curve) / len(curve)
    dividends = _dividends(book, start, end)
    return PortfolioReport(
        start=start,
        end=end,
        starting_cash=starting_cash,
        start_equity=start_equity,
        end_equity=end_equity,
        total_pnl=end_equity - start_equity,
        equity_curve=tuple(curve),
        returns=_returns(curve),
        exposures=_exposures(book, end_equity, starting_cash + book.cash_flow, sector_map),
        risk=_var(_values(book), marks, sessions, end_equity, var_min_observations),
        by_strategy=_lines(attribution.by_strategy),
        by_symbol=_lines(attribution.by_symbol),
        by_sector=_lines(attribution.by_sector),
        brinson=_brinson(periods, weight_sums, benchmark),
        traded_value=traded,
        average_equity=average_equity,
        turnover=traded / average_equity if average_equity > 0 else None,
        realized=_realized(book, start, end),
        dividends=dividends,
        dividends_total=math.fsum(d.amount for d in dividends),
        fills=sum(1 for f in ordered if start <= f.day <= end),
        notes=(
            "equity = starting cash + trades + dividends + positions at each session's close",
            "symbols without a daily close (options) are marked at their last fill price",
            f"benchmark: {benchmark}; cash earns nothing (Brinson sector {CASH!r})",
        ),
    )


MANUAL = "manual"
"""The strategy of a fill whose order came from no stored card (a manual order)."""


def tag_fills(
    fills: Iterable[Fill], orders: Iterable[Order], cards: Iterable[StrategyCard]
) -> list[TaggedFill]:
    """Each fill with its strategy: the template of its order's card (an algo child takes its
    parent's), ``MANUAL`` when there is none."""
    by_id = {o.client_order_id: o for o in orders}
    templates = {c.card_id: c.template for c in cards}

    def strategy(client_order_id: str) -> str:
        order = by_id.get(client_order_id)
        seen: set[str] = set()
        while order is not None and order.card_id is None and order.parent_id and order.parent_id not in seen:
            seen.add(order.parent_id)
            order = by_id.get(order.parent_id)
        card_id = order.card_id if order is not None else None
        return templates.get(card_id, MANUAL) if card_id else MANUAL

    return [TaggedFill(f, strategy=strategy(f.client_order_id)) for f in fills]


def closes_from_bars(bars: Mapping[str, pd.DataFrame], through: date | None = None) -> pd.DataFrame:
    """Daily bars per symbol (a ``close`` column, session-date index) -> one frame of closes,
    cut at ``through`` so a replayed market is never marked at a close it has not reached."""
    columns = {s: frame["close"].astype(float) for s, frame in bars.items() if "close" in frame.columns}
    if not columns:
        return pd.DataFrame(dtype=float)
    closes = pd.DataFrame(columns).sort_index()
    if through is not None:
        closes = closes.loc[closes.index <= pd.Timestamp(through)]
    return closes


def sectors_of(instruments: Mapping[str, Instrument], configured: Mapping[str, str]) -> dict[str, str]:
    """Each symbol's sector: the configured one, else the instrument's own."""
    out = {s: inst.sector for s, inst in instruments.items() if inst.sector}
    out.update(configured)
    return out


# ----------------------------------------------------------------------------- the book
class _Feeder:
    """Feeds fills and corporate actions to the book in date order, recording what each did."""

    def __init__(self, book: LotBook, fills: Sequence[TaggedFill], actions: Sequence[CorporateAction]):
        self._book = book
        self._fills = fills
        self._actions = actions
        self._i = 0
        self._j = 0

    def advance(self, through: date, record: _Day | None) -> None:
        """Book every fill and action dated on or before ``through`` not booked yet."""
        book = self._book
        credits = len(book.dividend_credits)
        while self._i < len(self._fills) and self._fills[self._i].day <= through:
            tagged = self._fills[self._i]
            self._apply_actions(tagged.day)
            fill = tagged.fill
            before = book.quantity(fill.symbol)
            book.apply_fill(fill, strategy=tagged.strategy, account=tagged.account, lots=tagged.lots)
            if record is not None:
                mult = contract_multiplier(fill.symbol)
                signed = fill.side.sign * fill.quantity
                adds = signed if before * fill.side.sign >= 0 else max(0.0, abs(signed) - abs(before))
                opened = math.copysign(abs(adds), signed) * fill.price * mult
                record.opened[fill.symbol] = record.opened.get(fill.symbol, 0.0) + opened
                cash = -signed * fill.price * mult - fill.commission
                record.cash[fill.symbol] = record.cash.get(fill.symbol, 0.0) + cash
            self._i += 1
        self._apply_actions(through)
        if record is not None:
            for credit in book.dividend_credits[credits:]:
                record.cash[credit.symbol] = record.cash.get(credit.symbol, 0.0) + credit.amount

    def _apply_actions(self, through: date) -> None:
        while self._j < len(self._actions) and self._actions[self._j].ex_date <= through:
            apply_action(self._book, self._actions[self._j])
            self._j += 1


def _marks(closes: pd.DataFrame, fills: Sequence[TaggedFill], end: date) -> pd.DataFrame:
    """Closes through ``end``, carried forward over gaps, plus a column of fill prices for every
    traded symbol without closes (each at the first session on or after its fill), so every held
    symbol has a mark."""
    frame = closes.copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index)).normalize()
    frame = frame.sort_index()
    frame = frame.loc[frame.index <= pd.Timestamp(end)].astype(float)
    extra: dict[str, pd.Series] = {}
    for tagged in fills:
        symbol = tagged.fill.symbol
        if symbol in frame.columns:
            continue
        at = int(frame.index.searchsorted(pd.Timestamp(tagged.day)))
        if at < len(frame.index):
            series = extra.setdefault(symbol, pd.Series(np.nan, index=frame.index, dtype=float))
            series.iloc[at] = tagged.fill.price
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1)
    return frame.ffill()


def _mark(book: LotBook, marks: pd.DataFrame, day: date) -> None:
    """Mark every held symbol at its last close on or before ``day`` (its fill price when none)."""
    upto = marks.loc[marks.index <= pd.Timestamp(day)]
    if upto.empty:
        return
    row = upto.iloc[-1]
    for symbol in book.symbols:
        value = row.get(symbol)
        if value is not None and math.isfinite(float(value)):
            book.mark(symbol, float(value))


def _values(book: LotBook) -> dict[str, float]:
    return {symbol: book.market_value(symbol) for symbol in book.symbols}


# ----------------------------------------------------------------------------- Brinson
def _benchmark(
    universe: Sequence[str], configured: Mapping[str, float] | None
) -> tuple[dict[str, float], str]:
    """Symbol weights summing to 1, and the benchmark in words."""
    if configured:
        bad = {s: w for s, w in configured.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"benchmark weights must be finite and >= 0, got {bad}")
        total = math.fsum(configured.values())
        if total <= 0:
            raise ValueError("benchmark weights sum to 0")
        weights = {s: w / total for s, w in sorted(configured.items()) if w > 0}
        shown = ", ".join(f"{s} {w:.0%}" for s, w in weights.items())
        return weights, f"configured weights ({shown})"
    symbols = list(dict.fromkeys(universe))
    if not symbols:
        raise ValueError("the benchmark needs a universe or configured weights")
    return {s: 1.0 / len(symbols) for s in symbols}, f"the universe equal-weighted ({', '.join(symbols)})"


def _brinson_day(
    record: _Day,
    end_values: Mapping[str, float],
    start_equity: float,
    marks: pd.DataFrame,
    day: date,
    sectors: Mapping[str, str],
    benchmark: Mapping[str, float],
) -> tuple[BrinsonResult, dict[str, tuple[float, float]]]:
    """One session's Brinson-Fachler by sector, and each sector's (portfolio, benchmark) weight."""
    net: dict[str, float] = {}
    gross: dict[str, float] = {}
    pnl: dict[str, float] = {}
    for symbol in set(record.start_values) | set(end_values) | set(record.cash) | set(record.opened):
        sector = sector_of(symbol, sectors)
        begin = record.start_values.get(symbol, 0.0)
        opened = record.opened.get(symbol, 0.0)
        net[sector] = net.get(sector, 0.0) + begin + opened
        gross[sector] = gross.get(sector, 0.0) + abs(begin) + abs(opened)
        change = end_values.get(symbol, 0.0) - begin + record.cash.get(symbol, 0.0)
        pnl[sector] = pnl.get(sector, 0.0) + change
    wp: dict[str, float] = {}
    rp: dict[str, float] = {}
    for sector in sorted(net):
        base = net[sector] if abs(net[sector]) > _EPS * max(1.0, gross[sector]) else gross[sector]
        if abs(base) <= _EPS:
            continue  # nothing held, nothing opened: no P&L either
        wp[sector] = base / start_equity
        rp[sector] = pnl[sector] / base
    cash = 1.0 - math.fsum(wp.values())
    if abs(cash) > 1e-12 or not wp:
        wp[CASH] = cash
        rp[CASH] = 0.0
    wb, rb = _benchmark_day(marks, day, sectors, benchmark)
    rb[CASH] = 0.0  # the benchmark holds no cash, but cash's return is known: its drag is allocation
    result = brinson_fachler(wp, rp, wb, rb)
    weights = {s: (wp.get(s, 0.0), wb.get(s, 0.0)) for s in result.sectors}
    return result, weights


def _benchmark_day(
    marks: pd.DataFrame, day: date, sectors: Mapping[str, str], benchmark: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Benchmark sector weights and the session's close-to-close sector returns (0 without data)."""
    upto = marks.loc[marks.index <= pd.Timestamp(day)]
    wb: dict[str, float] = {}
    weighted: dict[str, float] = {}
    for symbol, weight in benchmark.items():
        sector = sector_of(symbol, sectors)
        wb[sector] = wb.get(sector, 0.0) + weight
        r = 0.0
        if symbol in upto.columns and len(upto) >= 2:
            now, before = float(upto[symbol].iloc[-1]), float(upto[symbol].iloc[-2])
            if math.isfinite(now) and math.isfinite(before) and before > 0:
                r = now / before - 1.0
        weighted[sector] = weighted.get(sector, 0.0) + weight * r
    rb = {s: weighted[s] / w if w > 0 else 0.0 for s, w in wb.items()}
    return wb, rb


def _brinson(
    periods: Sequence[BrinsonResult], weight_sums: Mapping[str, list[float]], benchmark: str
) -> BrinsonFigures | None:
    if not periods:
        return None
    linked = brinson_linked(periods)
    n = len(periods)
    lines = tuple(
        BrinsonLine(
            sector=sector,
            portfolio_weight=weight_sums.get(sector, [0.0, 0.0])[0] / n,
            benchmark_weight=weight_sums.get(sector, [0.0, 0.0])[1] / n,
            allocation=effect.allocation,
            selection=effect.selection,
            interaction=effect.interaction,
            total=effect.total,
        )
        for sector, effect in linked.sectors.items()
    )
    return BrinsonFigures(
        benchmark=benchmark,
        portfolio_return=linked.portfolio_return,
        benchmark_return=linked.benchmark_return,
        active_return=linked.active_return,
        allocation=linked.allocation,
        selection=linked.selection,
        interaction=linked.interaction,
        days=n,
        sectors=lines,
    )


# ----------------------------------------------------------------------------- figures
def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _returns(curve: Sequence[EquityPoint]) -> ReturnFigures:
    r = np.array([p.daily_return for p in curve], dtype=np.float64)
    daily_vol = float(np.std(r, ddof=1)) if r.size >= 2 else math.nan
    return ReturnFigures(
        total_return=_finite(metrics.total_return(r)),
        annualized_return=_finite(metrics.annualized_return(r)),
        daily_volatility=_finite(daily_vol),
        annualized_volatility=_finite(metrics.annualized_volatility(r)),
        sharpe=_finite(metrics.sharpe_ratio(r)),
        max_drawdown=_finite(metrics.max_drawdown(r)),
        current_drawdown=curve[-1].drawdown if curve else None,
        sessions=int(r.size),
    )


def _share(value: float, equity: float) -> float | None:
    return value / equity if equity > 0 else None


def _exposures(book: LotBook, equity: float, cash: float, sectors: Mapping[str, str]) -> ExposureFigures:
    values = _values(book)
    long_value = math.fsum(v for v in values.values() if v > 0)
    short_value = math.fsum(-v for v in values.values() if v < 0)
    by_sector: dict[str, list[float]] = {}
    for symbol, value in values.items():
        acc = by_sector.setdefault(sector_of(symbol, sectors), [0.0, 0.0])
        acc[0 if value > 0 else 1] += abs(value)
    return ExposureFigures(
        equity=equity,
        cash=cash,
        long_value=long_value,
        short_value=short_value,
        gross_value=long_value + short_value,
        net_value=long_value - short_value,
        gross_share=_share(long_value + short_value, equity),
        net_share=_share(long_value - short_value, equity),
        long_share=_share(long_value, equity),
        short_share=_share(short_value, equity),
        cash_share=_share(cash, equity),
        sectors=tuple(
            SectorExposure(sector, lv, sv, lv - sv, _share(lv - sv, equity))
            for sector, (lv, sv) in sorted(by_sector.items())
        ),
    )


def _var(
    values: Mapping[str, float], marks: pd.DataFrame, sessions: Sequence[date], equity: float, minimum: int
) -> PeriodRisk:
    """Historical VaR 95% of the book ``values`` over the sessions' close-to-close moves."""
    window = marks.loc[marks.index <= pd.Timestamp(sessions[-1])]
    first = pd.Timestamp(sessions[0])
    position = int(window.index.searchsorted(first))
    if position == 0:
        position = 1  # the first session has no previous close in the data: it has no move
    moves = window.iloc[position - 1 :]
    if len(moves) < 2 or equity <= 0:
        return PeriodRisk(var_95=None, var_95_share=None, observations=0)
    pnl = np.zeros(len(moves) - 1)
    for symbol, value in values.items():
        if symbol in moves.columns:
            prices = moves[symbol].to_numpy(dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = prices[1:] / prices[:-1] - 1.0
            pnl += value * np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
    if pnl.size < max(1, minimum):
        return PeriodRisk(var_95=None, var_95_share=None, observations=int(pnl.size))
    share = -metrics.value_at_risk(pnl / equity, confidence=VAR_CONFIDENCE)
    return PeriodRisk(var_95=share * equity, var_95_share=share, observations=int(pnl.size))


def _lines(rows: Mapping[str, AttributionRow]) -> tuple[AttributionLine, ...]:
    return tuple(
        AttributionLine(
            key=key,
            realized=row.realized,
            unrealized_change=row.unrealized_change,
            dividends=row.dividends,
            commissions=row.commissions,
            total=row.total,
            contribution=row.contribution,
        )
        for key, row in rows.items()
    )


def _realized(book: LotBook, start: date, end: date) -> RealizedGains:
    lots = tuple(
        RealizedGainLine(
            symbol=piece.symbol,
            strategy=piece.strategy,
            quantity=piece.quantity,
            opened=piece.opened,
            closed=piece.closed,
            holding_days=piece.holding_days,
            proceeds=piece.proceeds,
            basis=piece.basis,
            gain=piece.gain,
            term=piece.term,
        )
        for piece in book.realized_lots
        if start <= piece.closed <= end
    )
    short = [lot.gain for lot in lots if lot.term is HoldingTerm.SHORT]
    long = [lot.gain for lot in lots if lot.term is HoldingTerm.LONG]
    return RealizedGains(
        short_term=math.fsum(short),
        long_term=math.fsum(long),
        total=math.fsum(lot.gain for lot in lots),
        short_count=len(short),
        long_count=len(long),
        lots=lots,
    )


def _dividends(book: LotBook, start: date, end: date) -> tuple[DividendLine, ...]:
    by_symbol: dict[str, float] = {}
    for credit in book.dividend_credits:
        if start <= credit.ex_date <= end:
            by_symbol[credit.symbol] = by_symbol.get(credit.symbol, 0.0) + credit.amount
    return tuple(DividendLine(symbol, amount) for symbol, amount in sorted(by_symbol.items()))
