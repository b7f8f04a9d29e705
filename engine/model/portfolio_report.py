"""The portfolio report of a period: what the book was worth, how it got there, and why.

It is a value, built whole by ``engine.portfolio.report`` (from the fills and the daily closes)
and read by three consumers that must agree to the cent: the console's portfolio screen, the
``onetap report portfolio`` command and its JSON/CSV files. So it is plain dataclasses of
numbers, dates and tuples that the codec carries over the attach socket unchanged.

Conventions: money is in the account currency; ``*_share`` and returns are fractions (0.05 is
5%); drawdowns and returns of a loss are negative, VaR is a loss as a positive number; a figure
the period cannot define (a Sharpe ratio of two days, a return on no equity) is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.model.lots import HoldingTerm


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The book at one session's close: cash plus every position marked at that close."""

    day: date
    equity: float
    cash: float
    long_value: float
    short_value: float
    """Market value of the short positions, as a positive number."""
    daily_return: float
    """Against the previous close (the opening equity for the first session of the period)."""
    drawdown: float
    """``equity / running peak - 1`` (<= 0); the opening equity counts as a peak."""


@dataclass(frozen=True, slots=True)
class ReturnFigures:
    """Time-weighted returns of the equity curve (no deposits or withdrawals are modelled)."""

    total_return: float | None
    annualized_return: float | None
    daily_volatility: float | None
    annualized_volatility: float | None
    sharpe: float | None
    """Annualised, risk-free rate 0."""
    max_drawdown: float | None
    current_drawdown: float | None
    sessions: int


@dataclass(frozen=True, slots=True)
class SectorExposure:
    sector: str
    long_value: float
    short_value: float
    net_value: float
    net_share: float | None
    """``net_value / equity``."""


@dataclass(frozen=True, slots=True)
class ExposureFigures:
    """The book at the end of the period; shares are of the end equity."""

    equity: float
    cash: float
    long_value: float
    short_value: float
    gross_value: float
    net_value: float
    gross_share: float | None
    net_share: float | None
    long_share: float | None
    short_share: float | None
    cash_share: float | None
    sectors: tuple[SectorExposure, ...] = ()


@dataclass(frozen=True, slots=True)
class PeriodRisk:
    """Historical one-day VaR 95% of the end book, replayed over the period's daily price moves."""

    var_95: float | None
    """Money lost on the 5th-percentile day (positive for a loss; negative when even that day was a
    gain); None when the period has too few daily moves to estimate a tail."""
    var_95_share: float | None
    """``var_95 / end equity``."""
    observations: int
    """Daily moves the estimate rests on (fewer than 20 is a thin sample)."""


@dataclass(frozen=True, slots=True)
class AttributionLine:
    """P&L of one strategy, symbol or sector over the period: ``total = realized +
    unrealized_change + dividends - commissions``; ``contribution = total / start equity``."""

    key: str
    realized: float
    unrealized_change: float
    dividends: float
    commissions: float
    total: float
    contribution: float | None


@dataclass(frozen=True, slots=True)
class BrinsonLine:
    """One sector's Carino-linked Brinson-Fachler effects, with its average daily weights."""

    sector: str
    portfolio_weight: float
    benchmark_weight: float
    allocation: float
    selection: float
    interaction: float
    total: float


@dataclass(frozen=True, slots=True)
class BrinsonFigures:
    """Active return against ``benchmark`` split by sector; the effects sum to ``active_return``."""

    benchmark: str
    """What the benchmark is, in words (e.g. "the universe equal-weighted: AAPL, MSFT, ...")."""
    portfolio_return: float
    benchmark_return: float
    active_return: float
    allocation: float
    selection: float
    interaction: float
    days: int
    sectors: tuple[BrinsonLine, ...] = ()


@dataclass(frozen=True, slots=True)
class RealizedGainLine:
    """One lot piece closed in the period (a Form 8949 row, economic gain)."""

    symbol: str
    strategy: str
    quantity: float
    opened: date
    closed: date
    holding_days: int
    proceeds: float
    basis: float
    gain: float
    term: HoldingTerm


@dataclass(frozen=True, slots=True)
class RealizedGains:
    """Realized gains of the period by holding term (IRS Pub. 550: long = held over a year)."""

    short_term: float
    long_term: float
    total: float
    short_count: int
    long_count: int
    lots: tuple[RealizedGainLine, ...] = ()


@dataclass(frozen=True, slots=True)
class DividendLine:
    symbol: str
    amount: float


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """Everything the portfolio screen and ``onetap report portfolio`` show, for [start, end]."""

    start: date
    end: date
    starting_cash: float
    start_equity: float
    """Equity at the last close before ``start`` (the starting cash when nothing came before)."""
    end_equity: float
    total_pnl: float
    """``end_equity - start_equity``; the attribution tables each sum to it."""
    equity_curve: tuple[EquityPoint, ...]
    returns: ReturnFigures
    exposures: ExposureFigures
    risk: PeriodRisk
    by_strategy: tuple[AttributionLine, ...]
    by_symbol: tuple[AttributionLine, ...]
    by_sector: tuple[AttributionLine, ...]
    brinson: BrinsonFigures | None
    """None when the period has no session after its opening close."""
    traded_value: float
    average_equity: float
    turnover: float | None
    """``traded_value / average_equity`` over the period (not annualised)."""
    realized: RealizedGains
    dividends: tuple[DividendLine, ...] = ()
    dividends_total: float = 0.0
    fills: int = 0
    notes: tuple[str, ...] = ()
    """What the reader should know about how a figure was made (marks, benchmark, gaps)."""
