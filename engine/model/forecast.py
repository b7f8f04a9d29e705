"""Forecast tracking: what each executed card said it would do, beside what it did.

A card shows four forecasts when the trader presses ``x``: its ``confidence`` (the probability
that the trade's return before costs is positive, the template's own outcome rule), its
``expected_return`` (a fraction of the capital it commits, before costs), its ``max_risk``
(money lost if every stop is hit) and its ``expected_cost`` (money, executing its legs). When the
position the card opened is closed, its ``ForecastOutcome`` holds those four numbers as the
executed card showed them, and what the fills realized. A ``Scoreboard`` sums the outcomes by
template, with intervals and the drift tests (``engine.portfolio.scoreboard`` computes them).

Standard library only, no I/O: the console draws these and ``onetap report cards`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class OutcomeStatus(StrEnum):
    """How a tracked trade ended."""

    CLOSED = "closed"
    """Every share the card opened was closed (stop, target, time exit, a close card, by hand)."""
    VOID = "void"
    """The execution was rolled back (its filled legs unwound): the market never tested the
    forecast, so the outcome is kept but counts in no hit rate or mean."""


@dataclass(frozen=True, slots=True)
class ForecastOutcome:
    """One executed card's forecast beside its realized outcome (one per execution, written once).

    Money is in the account's currency, x the contract multiplier. ``capital`` is the value of the
    entry fills (what the card actually committed); returns are over it.
    """

    execution_id: str
    card_id: str
    template: str
    symbols: tuple[str, ...]
    status: OutcomeStatus
    opened_at: datetime
    """The first entry fill."""
    closed_at: datetime
    """The fill that closed the last of the position."""
    # ---- the forecast, as the executed card showed it
    confidence: float
    expected_return: float
    max_risk: float
    expected_cost: float
    # ---- what the fills realized
    capital: float
    gross_pnl: float
    """P&L of the fills before commissions (slippage is in the fill prices)."""
    entry_commission: float
    exit_commission: float
    entry_slippage: float
    """Implementation shortfall of the entry fills against their arrival price (positive = cost)."""
    exit_slippage: float
    """The same for the exit fills whose order had an arrival price (stops and targets have none:
    what a stop gapped through is in ``gross_pnl``, not here)."""

    @property
    def realized_return(self) -> float:
        """Return on the committed capital before commissions: the template's outcome measure."""
        return self.gross_pnl / self.capital if self.capital > 0 else 0.0

    @property
    def net_return(self) -> float:
        return (self.gross_pnl - self.commission) / self.capital if self.capital > 0 else 0.0

    @property
    def hit(self) -> bool:
        """The template's outcome rule (``engine.strategies.outcomes``): a win is a positive
        return before costs."""
        return self.gross_pnl > 0.0

    @property
    def commission(self) -> float:
        return self.entry_commission + self.exit_commission

    @property
    def entry_cost(self) -> float:
        """Realized cost of executing the card (commission + shortfall of the entry): the same
        scope as ``expected_cost``, which estimates executing the card's legs."""
        return self.entry_commission + self.entry_slippage

    @property
    def realized_cost(self) -> float:
        """Round trip: commissions and measured slippage of the entry and the exit."""
        return self.entry_cost + self.exit_commission + self.exit_slippage

    @property
    def breached(self) -> bool:
        """The trade lost more than the card's ``max_risk`` (net of commissions)."""
        return self.max_risk > 0 and (self.commission - self.gross_pnl) > self.max_risk + 1e-9


@dataclass(frozen=True, slots=True)
class DriftTest:
    """One test of live results against the backtest's expectation (``engine.portfolio.scoreboard``).

    ``statistic`` is a z (hits) or a t (returns); ``p_value`` two-sided; ``significant`` when
    ``p_value < alpha`` with at least the minimum sample.
    """

    name: str
    statistic: float
    p_value: float
    significant: bool


@dataclass(frozen=True, slots=True)
class TemplateScore:
    """One template's scoreboard row: closed trades only (``open`` ones are pending, not counted).

    Intervals are 95%: Wilson's for the hit rate, Student's t for means. Costs are in basis
    points of each trade's capital, so trades of different size average fairly.
    """

    template: str
    n: int
    open: int
    void: int
    hits: int
    hit_rate: float | None
    hit_low: float | None
    hit_high: float | None
    mean_confidence: float | None
    mean_return: float | None
    return_low: float | None
    return_high: float | None
    mean_expected_return: float | None
    cost_bps: float | None
    """Mean realized entry cost (commission + shortfall) in bps of capital."""
    cost_low: float | None
    cost_high: float | None
    expected_cost_bps: float | None
    """Mean of the cards' expected cost in bps of capital (the same scope: executing the legs)."""
    round_trip_bps: float | None
    """Mean realized round-trip cost (entry and exit) in bps of capital."""
    breaches: int
    """Trades that lost more than their card's max risk."""
    pnl: float
    """Sum of the net P&L of the closed trades (money)."""
    hit_test: DriftTest | None = None
    """None below the minimum sample."""
    return_test: DriftTest | None = None

    @property
    def drifting(self) -> bool:
        return any(t is not None and t.significant for t in (self.hit_test, self.return_test))


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """Every template's score over outcomes closed at or after ``since`` (all when None)."""

    asof: datetime
    since: datetime | None
    rows: tuple[TemplateScore, ...]
    min_trades: int
    alpha: float
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class OpenTrade:
    """A card trade still pending: opened and not yet closed (or its entry still working)."""

    execution_id: str
    template: str
    opened: float
    """Quantity the card's entry opened (all legs)."""
    held: float
    """Quantity of it still open."""


@dataclass(frozen=True, slots=True)
class CardReport:
    """``onetap report cards``: the scoreboard of trades closed since a date, the outcomes behind
    it, and the trades still open."""

    scoreboard: Scoreboard
    outcomes: tuple[ForecastOutcome, ...]
    open_trades: tuple[OpenTrade, ...]
