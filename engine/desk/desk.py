"""``PortfolioDesk``: what the engine holds of the portfolio layer, and the hooks it calls.

The engine calls ``on_quotes`` (every quote step), ``on_fill``, ``on_day_start`` and
``harvest_cards`` (when cards refresh), and serves ``PreviewRebalance`` / ``ExecuteRebalance``
through ``preview`` / ``execute_preview``. Nothing here runs on its own timer: the autopilot is
ticked from the quote path, and only when its next run time has come or a run is waiting (for
data, for the trading state), so a quote otherwise costs one comparison.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from engine.actor import Actor
from engine.config import fractional_allowed
from engine.data.calendar import NEW_YORK
from engine.desk.harvest import harvest_cards
from engine.desk.host import STRATEGY, DeskPorts, EngineAutopilotHost
from engine.desk.lots import EngineLots
from engine.desk.targets import TargetBook, TargetRules
from engine.model import Action, Fill, Quote, RefusalCode, StrategyCard
from engine.model.events import CommandResult, ExecuteRebalance, PreviewRebalance, RebalancePreviewEvent
from engine.model.quote_batch import as_batch
from engine.model.rebalance import RebalancePlan
from engine.portfolio.autopilot import Autopilot
from engine.portfolio.autopilot import AutopilotSettings as Rules
from engine.portfolio.rebalance import (
    MANUAL,
    CostBenefit,
    Frequency,
    RebalanceCosts,
    RebalanceSettings,
    plan_rebalance,
)
from engine.portfolio.schedule import AutopilotSchedule
from engine.portfolio.tax_loss import WashSaleRules

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.execution.costs import CommissionSchedule
    from engine.portfolio.lots import LotBook


@dataclass(frozen=True, slots=True)
class _Preview:
    plan: RebalancePlan
    prices: dict[str, float]


def autopilot_rules(settings: Settings, commissions: CommissionSchedule) -> Rules:
    """``[autopilot]`` as the autopilot's settings (schedule, triggers, costs, waiting)."""
    a = settings.autopilot
    hour, minute = (int(x) for x in a.run_at.split(":")[:2])
    return Rules(
        schedule=AutopilotSchedule(
            run_at=wall_time(hour, minute),
            minutes_before_early_close=a.minutes_before_early_close,
            calendar=a.calendar,
            zone=ZoneInfo(a.zone) if a.calendar != "XNYS" else NEW_YORK,
        ),
        rebalance=RebalanceSettings(
            frequency=Frequency(a.frequency),
            drift_abs=a.drift_abs or None,
            drift_rel=a.drift_rel or None,
            min_trade_value=a.min_trade_value,
            sell_unlisted=a.sell_unlisted,
            fractional=fractional_allowed(settings, a.fractional),
            costs=RebalanceCosts(commission=commissions),
            cost_benefit=CostBenefit(a.edge, a.horizon_sessions),
        ),
        deadline_before_close=timedelta(seconds=a.deadline_before_close_s),
        retry_every=timedelta(seconds=a.retry_every_s),
    )


class PortfolioDesk:
    """The autopilot, the kept rebalance preview, the tax lots and the harvest cards of one engine."""

    def __init__(self, ports: DeskPorts, commissions: CommissionSchedule) -> None:
        s = ports.settings
        self.ports = ports
        self.targets = TargetBook(TargetRules.from_settings(s), _history_of(ports))
        self.rules = autopilot_rules(s, commissions)
        self.host = EngineAutopilotHost(
            ports, self.targets, max_quote_age=timedelta(seconds=s.autopilot.max_quote_age_s)
        )
        self.autopilot = (
            Autopilot(self.host, self.rules, monotonic=time.perf_counter) if s.autopilot.enabled else None
        )
        self._next_check: datetime | None = ports.clock.now() if self.autopilot else None
        for note in self.targets.notes() if self.autopilot else ():
            ports.outbox.notice("info", f"autopilot: {note}")
        self._ticking = False
        self._preview: _Preview | None = None
        t = s.tax_loss
        rules = WashSaleRules(t.window_days, t.substantially_identical)
        self.lots = EngineLots(rules, ports.outbox.notice)
        self._closes: tuple[date, pd.DataFrame] | None = None

    def fold_stored_fills(self, fills: Sequence[Fill] | None = None) -> None:
        """Book every stored fill into the lots (engine start), each under its order's strategy.

        Only what the lots need is read: the fills, each order's card id and each card's template
        (two-column queries), not every order and card whole, so a restart stays linear and quick.
        ``fills`` are the stored fills when the caller read them already (the ledger's fold does):
        reading 100,000 fills again costs a second or more.
        """
        store = self.ports.store
        if fills is None:
            fills = store.load_fills()
        card_of = store.card_ids_of_orders()
        templates = store.card_templates(card_of.values())
        self.lots.fold([*self.ports.opening_fills, *fills], card_of, templates)
        for symbol, price in self.ports.market.prices().items():
            self.lots.book.mark(symbol, price)

    @property
    def book(self) -> LotBook:
        return self.lots.book

    # ------------------------------------------------------------------ engine hooks
    def on_quotes(self, quotes: Sequence[Quote], now: datetime) -> None:
        """Mark the lots (O(1) each, only the symbols the book holds, in arrival order) and tick
        the autopilot when something may be due."""
        batch, book = as_batch(quotes), self.lots.book
        symbols, lasts = batch.symbols, batch.last
        for i in batch.in_order(book.marked_symbols()):
            book.mark(symbols[i], float(lasts[i]))
        if self._next_check is None or self._ticking or now < self._next_check:
            return
        self._ticking = True
        self.ports.outbox.spawn(self._tick(), "autopilot-tick")

    async def _tick(self) -> None:
        assert self.autopilot is not None
        try:
            await self.autopilot.tick()
        finally:
            self._ticking = False
            self._next_check = self._after_tick()

    def _after_tick(self) -> datetime | None:
        """Now again while today's run is due but not recorded (it waits), else the next run time."""
        now = self.ports.clock.now()
        schedule = self.rules.schedule
        if schedule.due(now, self.host.last_run_day()) is not None:
            return now
        try:
            return schedule.next_run(now)
        except ValueError:  # past the calendar's range: nothing will be due again
            return None

    def next_run(self) -> datetime | None:
        """When the autopilot runs next (None when it is off): for a status line."""
        return self._next_check if self.autopilot is not None else None

    def on_fill(self, fill: Fill, strategy: str) -> None:
        order = self.ports.orders.get(fill.client_order_id)
        self.lots.apply(fill, strategy, order)

    def on_day_start(self, day: date) -> None:
        self.lots.book.start_day()
        self.host.start_year(day.year, self.ports.ledger.start_of_day_equity)
        if self.autopilot is not None and self.targets.rules.template is not None:
            # a template's targets rerun its backtest over the whole history (a second or two on
            # years of data): worked out on a thread now, from bars before the day, so the run at
            # 15:55 finds them ready instead of stalling the feed
            self.ports.outbox.spawn(self._warm_targets(day), "autopilot-targets")

    async def _warm_targets(self, day: date) -> None:
        import asyncio

        try:
            await asyncio.to_thread(self.targets.weights, day)
        except Exception:  # the run itself reads them again, and records the failure
            return

    # ------------------------------------------------------------------ tax-loss cards
    def harvest_cards(self, day: date) -> list[StrategyCard]:
        t = self.ports.settings.tax_loss
        if not t.enabled:
            return []
        prices = self.ports.market.prices()
        symbols = list(self.ports.settings.universe.symbols)
        try:
            return harvest_cards(
                self.lots,
                prices,
                day,
                self.ports.clock.now(),
                closes=self._universe_closes(day, symbols, t.lookback_sessions),
                substitutes=t.substitutes or symbols,
                min_loss=t.min_loss,
                min_loss_pct=t.min_loss_pct,
                lookback=t.lookback_sessions,
                fractional=fractional_allowed(self.ports.settings, self.ports.settings.cards.fractional),
            )
        except ValueError as exc:  # a lot without a price, a symbol without bars: say it, show none
            self.ports.outbox.notice("warning", f"tax-loss harvest proposals skipped: {exc}")
            return []

    def _universe_closes(self, day: date, symbols: list[str], lookback: int) -> pd.DataFrame:
        if self._closes is None or self._closes[0] != day:
            feed = self.ports.market.feed
            frame = pd.DataFrame(
                {s: feed.history(s, before=day)["close"].tail(lookback + 1) for s in symbols}
            )
            self._closes = (day, frame)
        return self._closes[1]

    # ------------------------------------------------------------------ rebalance preview
    def plan_now(self) -> tuple[RebalancePlan, dict[str, float]]:
        """Today's plan at the current prices, with the autopilot's targets and rules."""
        e = self.ports
        day = e.market.session_day()
        if day is None:
            raise ValueError("the replay has no session left to plan for")
        targets = self.targets.weights(day)
        book = self.host.book()
        r = self.rules.rebalance
        plan = plan_rebalance(
            book.positions,
            book.prices,
            book.equity,
            book.cash,
            targets,
            r.costs,
            asof=e.clock.now(),
            trigger=MANUAL,
            min_trade_value=r.min_trade_value,
            cost_benefit=r.cost_benefit,
            sell_unlisted=r.sell_unlisted,
            fractional=r.fractional,
            cash_buffer=r.cash_buffer,
        )
        return plan, targets

    async def serve(self, command: PreviewRebalance | ExecuteRebalance, actor: Actor) -> CommandResult:
        """The engine's ``handle`` hands both rebalance commands here."""
        if isinstance(command, PreviewRebalance):
            return self.preview()
        return await self.execute_preview(command.plan_asof, actor)

    def preview(self) -> CommandResult:
        """Plan now, keep the plan, publish it; nothing is sent."""
        try:
            plan, targets = self.plan_now()
        except ValueError as exc:
            return self.ports.outbox.refuse(
                Action.PREVIEW_REBALANCE, RefusalCode.NO_PLAN, f"no rebalance plan: {exc}", ""
            )
        prices = self.ports.market.prices()
        self._preview = _Preview(plan, {o.symbol: prices[o.symbol] for o in plan.orders})
        notes = (*self.targets.notes(), *(f"{s.symbol}: {s.reason}" for s in plan.skipped))
        self.ports.bus.publish(RebalancePreviewEvent(plan, targets, self.targets.rules.method, tuple(notes)))
        return CommandResult(
            ok=True,
            message=(
                f"rebalance preview: {len(plan.orders)} order(s), expected cost {plan.expected_cost:,.2f}"
            ),
        )

    async def execute_preview(self, plan_asof: datetime, actor: Actor) -> CommandResult:
        """Send the kept plan if it is the one the operator saw and prices still agree with it."""
        kept = self._preview
        if kept is None or kept.plan.asof != plan_asof:
            self.preview()
            return self.ports.outbox.refuse(
                Action.EXECUTE_REBALANCE,
                RefusalCode.PREVIEW_STALE,
                "that preview is not the latest plan: a new preview was published, look again",
                "",
            )
        moved = self._moved(kept)
        if moved:
            self.preview()
            tolerance = self.ports.settings.autopilot.preview_tolerance
            return self.ports.outbox.refuse(
                Action.EXECUTE_REBALANCE,
                RefusalCode.PRICES_MOVED,
                f"prices moved more than {tolerance:.2%} since the preview ({', '.join(moved)}): "
                "a new preview was published, look again",
                "",
            )
        self._preview = None  # one execution per preview
        if kept.plan.empty:
            return CommandResult(ok=True, message="the previewed plan has no order: nothing to send")
        return await self.ports.execute_plan(kept.plan, actor, STRATEGY)

    def _moved(self, kept: _Preview) -> list[str]:
        prices = self.ports.market.prices()
        tolerance = self.ports.settings.autopilot.preview_tolerance
        out: list[str] = []
        for symbol, then in kept.prices.items():
            now = prices.get(symbol)
            if now is None or not math.isfinite(now) or abs(now / then - 1.0) > tolerance:
                out.append(f"{symbol} {then:,.2f} -> {now if now is not None else 'no price'}")
        return out


def _history_of(ports: DeskPorts) -> Callable[[str, date], pd.DataFrame]:
    """The feed's bars strictly before a day."""

    def history(symbol: str, day: date) -> pd.DataFrame:
        return ports.market.feed.history(symbol, before=day)

    return history
