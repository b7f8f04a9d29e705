"""``ProtectionManager``: every position a card opens protects itself at the broker.

On an entry fill of a card whose ``exit_policy`` is set it places ONE one-cancels-all group: a
stop (STP, STP LMT or TRAIL) and a limit target, GTC, tagged ``protects=<entry id>`` and
``oca_group="OCA-<entry id>"``, through the normal order path (write-ahead INTENT, audited,
risk-checked as reduce-only). Its quantity follows the position: more entry fills grow it, a
partial exit (one leg partly filled, a manual sale) shrinks the rest, a closed position cancels
it. At the end of the card's horizon it cancels the group and sends the exit.

Why the manager enforces one-cancels-other itself: it sizes both legs to what is left to protect
after every fill, so when one leg fills the other is cancelled (or shrunk) whether or not the
broker knows OCA groups. A broker that cancels the sibling itself gets there first; the manager
then finds the sibling already terminal and sends nothing (never a second cancel).

Everything is derived from orders (the store's ``protects`` column) and the ledger, never kept
only in memory, so after a restart or reconnect ``recover`` finds what is already working and
places only what is missing, exactly once; a position it cannot protect is flagged UNPROTECTED.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np

from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.data import calendar
from engine.data.calendar import NEW_YORK
from engine.data.loader import MarketData
from engine.execution.order_manager import OrderManager
from engine.execution.validation import prepare
from engine.model import (
    AlertCode,
    CommandSource,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    RefusalCode,
    Side,
    StrategyCard,
    TimeInForce,
    is_option_symbol,
)
from engine.model.events import (
    CommandResult,
    MarketEvent,
    OrderEvent,
    ProtectionEvent,
    ProtectionView,
    RiskAlert,
)
from engine.model.exits import ExitPolicy, ProtectionLevels, StopRule, TimeExit, resolve_levels
from engine.portfolio.ledger import Ledger
from engine.risk.pretrade import Refusal
from engine.runtime.accounting import FillBooked
from engine.runtime.dispatch import Dispatcher
from engine.runtime.health import WRITE_ERRORS, StoreHealth
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.signals.indicators import atr as wilder_atr
from engine.store.repository import Store

log = logging.getLogger(__name__)

EPS = 1e-9
ATR_BARS = 14
"""Wilder's ATR over the last 14 daily bars before the entry's session (the card's own input)."""
CLOSE_LEAD = timedelta(minutes=15)
"""An exit 'at the close' is sent this long (at least one quote step) before the session closes,
so a market order fills in the session it belongs to."""
OCA_PREFIX = "OCA-"


def oca_name(entry: str) -> str:
    return f"{OCA_PREFIX}{entry}"


def is_protective(order: Order) -> bool:
    """A stop, target or time exit the manager placed for an entry (kept by a level-1 halt)."""
    return order.protects is not None


@dataclass(slots=True)
class ProtectedEntry:
    """One entry order whose fills are protected, and the orders placed for it."""

    coid: str
    symbol: str
    side: Side
    policy: ExitPolicy
    card: StrategyCard
    legs: list[str] = field(default_factory=list)
    """client order ids of its protective orders (OCO legs, time exit), oldest first."""
    levels: ProtectionLevels | None = None
    atr: float | None = None
    last_session: date | None = None
    """The horizon's last session (None: no time exit)."""
    released: bool = False
    """The operator cancelled a leg: not re-placed in this session (a restart re-places it)."""
    rejected: str = ""
    """Why the broker (or the checks) refused its protection: retried at the next session, not at
    once (a refusal repeated on every event would trip the reject breaker)."""


class ProtectionManager:
    def __init__(
        self,
        settings: Settings,
        *,
        dispatcher: Dispatcher,
        risk: RiskMonitor,
        store: Store,
        market: MarketView,
        data: MarketData,
        ledger: Ledger,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
        health: StoreHealth,
        trail_supported: bool = False,
    ) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._orders: OrderManager = dispatcher.orders
        self._risk = risk
        self._store = store
        self._market = market
        self._data = data
        self._ledger = ledger
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self._health = health
        self._trail_supported = trail_supported
        """False until the broker works TRAIL orders (exitbroker): a trailing rule rests as a fixed
        stop at its initial level (said once per entry), never as an unknown order type."""
        self._entries: dict[str, list[ProtectedEntry]] = {}
        self._candidates: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduled: set[str] = set()
        self._cancelling: set[str] = set()
        self._card_cache: dict[str, StrategyCard | None] = {}
        self._step = CLOSE_LEAD
        self._last_quote: datetime | None = None
        self._was_suspended = False
        self._recovering: set[str] = set()
        """Symbols whose protection ``recover`` checks at their next quote (the broker prices them then)."""
        self.unprotected: dict[str, str] = {}
        """symbol -> why its card position has no working protection (the desk's UNPROTECTED flag)."""
        self.placed = 0
        """Protective orders sent since start (tests, the benchmark)."""

    # ------------------------------------------------------------------ what it hears
    def on_fill_booked(self, booked: FillBooked) -> None:
        """Any fill on a symbol: an entry grows its protection, anything else may shrink it."""
        fill = booked.fill
        order = self._orders.get(fill.client_order_id)
        if order is not None and order.protects is None:
            # an algo's child fills its parent's entry: the parent is what the card sent
            entry = order.parent_id or order.client_order_id
            if order.card_id or order.parent_id:
                self._candidates.setdefault(fill.symbol, set()).add(entry)
        if fill.symbol in self._entries or fill.symbol in self._candidates:
            self.schedule(fill.symbol)

    def on_order(self, event: OrderEvent) -> None:
        """A protective order ended, or an exit of a protected symbol did: size the rest again."""
        o = event.order
        if not o.status.is_terminal or o.symbol not in self._entries:
            return
        coid = o.client_order_id
        if (
            o.protects is not None
            and o.status is OrderStatus.CANCELLED
            and coid not in self._cancelling
            and not self._suspended()  # a halt's cancel-all: re-placed once the halt is lifted
        ):
            for entry in self._entries[o.symbol]:
                # cancelled by someone else (the operator, TWS); not a broker's own OCA cancel of
                # the sibling of a leg that filled: that one is the group doing its job
                sibling_filled = any(leg.filled_quantity > EPS for leg in self._legs(entry) if leg.oca_group)
                if entry.coid == o.protects and o.filled_quantity <= EPS and not sibling_filled:
                    entry.released = True
        if o.protects is not None and o.status is OrderStatus.REJECTED:
            for entry in self._entries[o.symbol]:
                if entry.coid == o.protects:
                    entry.rejected = o.reason or "rejected by the broker"
        self._cancelling.discard(coid)
        self.schedule(o.symbol)

    def on_market(self, event: MarketEvent) -> None:
        """Each quote step: horizons that ended, and protection a lifted halt lets back."""
        now = event.ts
        new_day = self._last_quote is None or self._last_quote.date() != now.date()
        if not new_day and self._last_quote is not None and now > self._last_quote:
            self._step = max(CLOSE_LEAD, now - self._last_quote)
        self._last_quote = now
        if self._recovering:  # a step of 500 symbols is not turned into a set when none waits
            quoted = {q.symbol for q in event.quotes}
            for symbol in sorted(self._recovering & quoted):  # the broker has seen its price now
                self._recovering.discard(symbol)
                self.schedule(symbol)
        if new_day:  # a refused protection is tried again once a session
            for symbol, entries in self._entries.items():
                if any(e.rejected for e in entries):
                    for e in entries:
                        e.rejected = ""
                    self.schedule(symbol)
        suspended = self._suspended()
        if self._was_suspended and not suspended:
            for symbol in list(self._entries):
                self.schedule(symbol)
        self._was_suspended = suspended
        for symbol, entries in list(self._entries.items()):
            if any(self._time_exit_due(e, now) for e in entries):
                self.schedule(symbol)

    def schedule(self, symbol: str) -> None:
        """Sync ``symbol``'s protection in a task (once, however many events asked for it)."""
        if symbol in self._scheduled:
            return
        self._scheduled.add(symbol)
        self._outbox.spawn(self._run(symbol), f"protection-{symbol}")

    async def _run(self, symbol: str) -> None:
        async with self._lock(symbol):
            self._scheduled.discard(symbol)
            with self._health.guard(f"protecting {symbol}"):
                await self.sync(symbol)
        self.publish()

    def publish(self) -> None:
        """The desk's picture of every protection (after a sync: placed, resized, ended, moved)."""
        self._bus.publish(ProtectionEvent(self.snapshot()))

    def _lock(self, symbol: str) -> asyncio.Lock:
        return self._locks.setdefault(symbol, asyncio.Lock())

    # ------------------------------------------------------------------ the engine's doors
    async def make_room(self, request: OrderRequest) -> None:
        """Before an order that reduces a protected position leaves (an exit card, a manual order,
        a rebalance): shrink the protection first, so the broker never holds more sells than
        shares (and a stop cannot fire after the position was sold by hand)."""
        if request.protects is not None or request.symbol not in self._entries:
            return
        held = self._ledger.quantity(request.symbol)
        if held == 0 or (held > 0) == (request.side is Side.BUY):
            return
        async with self._lock(request.symbol):
            await self.sync(request.symbol, extra=request.quantity)

    async def recover(self, *, at_start: bool = False) -> None:
        """After a start or a reconnect: every card position has its protection, placed once.

        Entries are found again from the stored orders and fills; what is working is kept, what
        is missing is flagged UNPROTECTED at once and placed: at the symbol's next quote after a
        start (the broker has no price before it), at once after a reconnect in session."""
        self._load()
        for symbol in sorted(self._entries):
            async with self._lock(symbol):
                self._flag_now(symbol)
            self._recovering.add(symbol)
        self.publish()
        if not at_start and self._market.market_open():  # a reconnect in session: the broker has prices
            for symbol in sorted(self._recovering):
                self._recovering.discard(symbol)
                async with self._lock(symbol):
                    with self._health.guard(f"protecting {symbol} after a reconnect"):
                        await self.sync(symbol)

    def cancels_on_halt(self) -> bool:
        """True: a level-1 halt cancels protective orders too (``[kill] level1_cancels_protection``)."""
        return self._settings.kill.level1_cancels_protection

    # ------------------------------------------------------------------ sizing
    async def sync(self, symbol: str, *, extra: float = 0.0) -> None:
        """Make ``symbol``'s protection what its position needs now (the caller holds its lock).

        ``extra``: a reducing order about to be sent, counted as if it were working."""
        self._adopt_candidates(symbol)
        entries = self._entries.get(symbol, [])
        if not entries:
            return
        held = self._ledger.quantity(symbol)
        sign = 0 if abs(held) <= EPS else (1 if held > 0 else -1)
        active = [e for e in entries if e.side.sign == sign]
        for gone in [e for e in entries if e.side.sign != sign]:
            await self._cancel(self._live(gone))  # the position was closed (or turned): by hand
        if not active:
            if all(not self._live(e) for e in entries):
                self._entries.pop(symbol, None)
            else:
                self._entries[symbol] = [e for e in entries if self._live(e)]
            self._set_flag(symbol, "")
            return
        self._entries[symbol] = active + [e for e in entries if e not in active and self._live(e)]
        reducing = extra + sum(
            o.remaining
            for o in self._orders.open_orders()
            if o.symbol == symbol and o.protects is None and o.side.sign == -sign
        )
        capacity = max(abs(held) - reducing, 0.0)
        needs = [max(self._filled(e) - self._exited(e), 0.0) for e in active]
        excess = sum(needs) - capacity
        for i in range(len(needs)):  # a manual exit consumes the oldest entries first (FIFO)
            if excess <= EPS:
                break
            cut = min(needs[i], excess)
            needs[i] -= cut
            excess -= cut
        for entry, need in zip(active, needs, strict=True):
            await self._apply(entry, need)
        self._set_flag(symbol, self._why_unprotected(active, needs))

    async def _apply(self, e: ProtectedEntry, need: float) -> None:
        live = self._live(e)
        group = [o for o in live if o.oca_group]
        if need <= EPS or self._suspended():
            await self._cancel(live)
            return
        now = self._clock.now()
        if self._time_exit_due(e, now):
            await self._cancel(group)
            if not any(not o.oca_group for o in live) and all(o.status.is_terminal for o in self._legs(e)):
                await self._send_time_exit(e, need)
            return
        if any(o.status is OrderStatus.PENDING_CANCEL for o in group):
            return  # its cancel's report schedules the next sync
        if not group:
            if not e.released and not e.rejected and e.symbol not in self._recovering:
                await self._place(e, need)
            return
        for leg in group:
            if abs(leg.remaining - need) > EPS:
                await self._resize(e, leg, need)

    def _flag_now(self, symbol: str) -> None:
        """The flag as the orders stand, without placing anything (at start, before the quotes)."""
        held = self._ledger.quantity(symbol)
        active = [e for e in self._entries.get(symbol, []) if e.side.sign * held > EPS]
        needs = [max(self._filled(e) - self._exited(e), 0.0) for e in active]
        self._set_flag(symbol, self._why_unprotected(active, needs))

    def _why_unprotected(self, active: list[ProtectedEntry], needs: list[float]) -> str:
        for e, need in zip(active, needs, strict=True):
            if need <= EPS or self._time_exit_due(e, self._clock.now()) or _rests_nothing(e):
                continue
            if not any(o.oca_group and o.status is not OrderStatus.PENDING_CANCEL for o in self._live(e)):
                if self._suspended():
                    if self._risk.controller.state.kill_level >= 2:
                        return "the flatten cancelled its protection; the position is being closed"
                    return "the halt cancelled its protection ([kill] level1_cancels_protection)"
                if e.released:
                    return f"the protection of {e.coid} was cancelled outside the engine's exits"
                if e.rejected:
                    return f"the protection of {e.coid} was refused ({e.rejected}); retried next session"
                if e.symbol in self._recovering:
                    return f"no working stop or target for {e.coid}: placed at its next quote"
                return f"no working stop or target for {e.coid}"
        return ""

    # ------------------------------------------------------------------ orders
    async def _place(self, e: ProtectedEntry, need: float) -> None:
        entry = self._order(e.coid)
        if entry is None or not entry.avg_fill_price:
            return
        if e.levels is None:
            e.atr = self._atr(e.symbol)
            try:
                e.levels = resolve_levels(
                    e.policy,
                    e.side,
                    entry.avg_fill_price,
                    atr=e.atr,
                    card_stop=e.card.stop_price if len(e.card.legs) == 1 else None,
                    card_target=e.card.target_price if len(e.card.legs) == 1 else None,
                    horizon_sessions=e.card.horizon_days,
                )
            except ValueError as exc:
                e.released = True
                self._set_flag(e.symbol, f"{e.coid}: {exc}", force=True)
                return
        book = self._dispatcher.book_view()
        now = self._clock.now()
        for request in self._requests(e, e.levels, need):
            ready = prepare(request, self._data.instruments.get(e.symbol))
            refusal = ready if isinstance(ready, Refusal) else self._risk.controller.check(ready, book, now)
            if refusal is not None or isinstance(ready, Refusal):
                why = refusal.message if refusal is not None else "refused"
                self._outbox.notice("error", f"protection of {e.coid} ({request.order_type}) refused: {why}")
                continue
            try:
                order = await self._dispatcher.send(ready)
            except WRITE_ERRORS as exc:
                self._health.failed(f"writing the protection of {e.coid}", exc)
                return
            e.legs.append(order.client_order_id)
            self.placed += 1

    def _requests(self, e: ProtectedEntry, levels: ProtectionLevels, need: float) -> list[OrderRequest]:
        base = OrderRequest(
            symbol=e.symbol,
            side=levels.side,
            quantity=need,
            tif=TimeInForce.GTC,
            strategy=e.card.template,
            reduce_only=True,
            override_duplicate=True,
            protects=e.coid,
            oca_group=oca_name(e.coid),
        )
        out: list[OrderRequest] = []
        stop = levels.stop_price
        if stop is not None:
            trailing = levels.trail_amount is not None or levels.trail_percent is not None
            if trailing and self._trail_supported:
                out.append(
                    replace(
                        base,
                        order_type=OrderType.TRAIL,
                        trail_amount=levels.trail_amount,
                        trail_percent=levels.trail_percent,
                    )
                )
            elif levels.stop_limit_price is not None:
                out.append(
                    replace(
                        base,
                        order_type=OrderType.STP_LMT,
                        stop_price=stop,
                        limit_price=levels.stop_limit_price,
                    )
                )
            else:
                if trailing:
                    self._outbox.notice(
                        "warning",
                        f"{e.symbol}: the broker works no trailing stops; {e.coid} rests as a fixed "
                        f"stop at {stop:.2f}",
                    )
                out.append(replace(base, order_type=OrderType.STP, stop_price=stop))
        if levels.target_price is not None:
            out.append(replace(base, order_type=OrderType.LMT, limit_price=levels.target_price))
        return out

    async def _resize(self, e: ProtectedEntry, leg: Order, need: float) -> None:
        """Modify in place; where the broker refuses, cancel the group (the next sync re-places it)."""
        err = await self._orders.modify(leg.client_order_id, leg.filled_quantity + need, leg.limit_price)
        if err:
            self._outbox.notice("warning", f"protection {leg.client_order_id} not resized ({err}); replaced")
            await self._cancel([o for o in self._live(e) if o.oca_group])

    async def _cancel(self, orders: list[Order]) -> None:
        for o in orders:
            if o.status.is_terminal or o.status is OrderStatus.PENDING_CANCEL:
                continue
            self._cancelling.add(o.client_order_id)
            err = await self._orders.cancel(o.client_order_id)
            if err:  # already gone at the broker (its own OCA cancel got there first): nothing to do
                log.info("protection cancel of %s: %s", o.client_order_id, err)

    async def _send_time_exit(self, e: ProtectedEntry, need: float) -> None:
        request = OrderRequest(
            symbol=e.symbol,
            side=e.side.opposite,
            quantity=need,
            strategy=e.card.template,
            reduce_only=True,
            override_duplicate=True,
            protects=e.coid,
        )
        refusal = self._risk.controller.check(request, self._dispatcher.book_view(), self._clock.now())
        if refusal is not None:
            self._outbox.notice("error", f"time exit of {e.coid} refused: {refusal.message}; retried")
            return
        order = await self._dispatcher.send(request)
        e.legs.append(order.client_order_id)
        message = f"{e.symbol}: the horizon of {e.card.name} ended; exit {request.side} {need:g} sent"
        self._outbox.audit(
            "engine", CommandSource.ENGINE, "time_exit", {"entry": e.coid, "coid": order.client_order_id}
        )
        self._bus.publish(RiskAlert(self._clock.now(), AlertCode.TIME_EXIT, "info", message, e.symbol))

    # ------------------------------------------------------------------ the operator's `m`
    async def modify(
        self, coid: str, quantity: float | None, limit: float | None, stop: float | None
    ) -> CommandResult:
        """Move a protective order's stop or target. Its quantity follows the position (refused);
        a stop or target moved to the wrong side of the market is refused (it would fill at once)."""
        order = self._orders.get(coid)
        if order is None or order.status.is_terminal or order.protects is None:
            return CommandResult(
                False, f"{coid} is not a working protective order", code=RefusalCode.NOT_OPEN
            )
        if quantity is not None and abs(quantity - order.quantity) > EPS:
            return CommandResult(
                False,
                f"{coid} protects a position: its quantity follows the position, only its prices move",
                code=RefusalCode.BAD_ORDER,
            )
        reference = self._market.prices().get(order.symbol, 0.0)
        wrong = _wrong_side(order, stop, limit, reference)
        if wrong:
            return CommandResult(False, wrong, code=RefusalCode.STOP_WRONG_SIDE)
        now = self._clock.now()
        throttled = self._risk.controller.check_modify(now)
        if throttled is not None:
            return CommandResult(False, throttled.message, code=throttled.code)
        if stop is None:  # a limit (target, or a stop-limit's limit): the broker changes it in place
            err = await self._orders.modify(
                coid, order.quantity, limit if limit is not None else order.limit_price
            )
            if err:
                return CommandResult(False, err, code=RefusalCode.MODIFY_FAILED)
            self._risk.controller.modify_sent(now)
            return CommandResult(True, f"{coid} target now {limit:g}" if limit else f"{coid} modified")
        return await self._replace_stop(order, stop, limit)

    async def _replace_stop(self, order: Order, stop: float, limit: float | None) -> CommandResult:
        """A new stop price: cancel and replace in the same OCA group (brokers on main change
        only quantity and limit in place)."""
        entry = next((e for e in self._entries.get(order.symbol, []) if e.coid == order.protects), None)
        if entry is None:
            return CommandResult(
                False, f"{order.client_order_id}: its entry is not known", code=RefusalCode.NOT_OPEN
            )
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.remaining,
            order_type=OrderType.STP_LMT if order.order_type is OrderType.STP_LMT else OrderType.STP,
            stop_price=stop,
            limit_price=(limit if limit is not None else order.limit_price)
            if order.order_type is OrderType.STP_LMT
            else None,
            tif=TimeInForce.GTC,
            strategy=entry.card.template,
            reduce_only=True,
            override_duplicate=True,
            protects=entry.coid,
            oca_group=order.oca_group,
        )
        ready = prepare(request, self._data.instruments.get(order.symbol))
        if isinstance(ready, Refusal):
            return CommandResult(False, ready.message, code=ready.code)
        async with self._lock(order.symbol):
            # The replacement joins the same OCA group at the same size: even before the broker
            # confirms the cancel, the old and the new stop can never both fill.
            await self._cancel([order])
            new = await self._dispatcher.send(ready)
            entry.legs.append(new.client_order_id)
            self.placed += 1
        self._risk.controller.modify_sent(self._clock.now())
        return CommandResult(
            True, f"{order.client_order_id} replaced by {new.client_order_id}: stop {stop:g}"
        )

    # ------------------------------------------------------------------ what is known
    def snapshot(self) -> tuple[ProtectionView, ...]:
        """Each protected position's working stop and target, and each UNPROTECTED one."""
        out: list[ProtectionView] = []
        for entry, live in self.views():
            working = [o for o in live if o.oca_group and o.status is not OrderStatus.PENDING_CANCEL]
            if not working:
                continue
            stop = next((o for o in working if o.order_type is not OrderType.LMT), None)
            target = next((o for o in working if o.order_type is OrderType.LMT), None)
            trail = ""
            if stop is not None and stop.trail_percent is not None:
                trail = f"{stop.trail_percent:g}%"
            elif stop is not None and stop.trail_amount is not None:
                trail = f"${stop.trail_amount:,.2f}"
            stop_price = stop.stop_price if stop is not None else None
            if stop is not None and stop_price is None and entry.levels is not None:
                stop_price = entry.levels.stop_price  # a TRAIL order: the level it started from
            out.append(
                ProtectionView(
                    symbol=entry.symbol,
                    entry=entry.coid,
                    quantity=max(o.remaining for o in working),
                    stop_id=stop.client_order_id if stop is not None else None,
                    stop_price=stop_price,
                    trail=trail,
                    target_id=target.client_order_id if target is not None else None,
                    target_price=target.limit_price if target is not None else None,
                    atr=entry.atr,
                )
            )
        for symbol, why in sorted(self.unprotected.items()):
            out.append(
                ProtectionView(
                    symbol=symbol, entry="", quantity=abs(self._ledger.quantity(symbol)), unprotected=why
                )
            )
        return tuple(out)

    def views(self) -> list[tuple[ProtectedEntry, list[Order]]]:
        """Each protected entry with its working orders (the positions pane and the snapshot)."""
        return [(e, self._live(e)) for entries in self._entries.values() for e in entries]

    def _adopt_candidates(self, symbol: str) -> None:
        for coid in sorted(self._candidates.pop(symbol, set())):
            if any(e.coid == coid for e in self._entries.get(symbol, [])):
                continue
            order = self._order(coid)
            if order is None:
                continue
            entry = self._entry_for(order)
            if entry is not None:
                entry.legs = [o.client_order_id for o in self._store.load_protection(coid)]
                self._entries.setdefault(symbol, []).append(entry)

    def _entry_for(self, order: Order) -> ProtectedEntry | None:
        if not order.card_id or is_option_symbol(order.symbol):
            return None
        if order.card_id not in self._card_cache:
            self._card_cache[order.card_id] = self._store.load_card(order.card_id)
        card = self._card_cache[order.card_id]
        if card is None or card.exit_policy is None:
            return None
        policy = card.exit_policy
        if policy.stop is StopRule.NONE and policy.target_r is None and policy.time_exit is TimeExit.NONE:
            return None
        return ProtectedEntry(
            coid=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            policy=policy,
            card=card,
            last_session=self._last_session(order, card, policy),
        )

    def _last_session(self, order: Order, card: StrategyCard, policy: ExitPolicy) -> date | None:
        """The horizon's last session: the entry's session counts as the first (as in
        ``engine.strategies.exits``: a fill on session f is held through f + horizon - 1)."""
        if policy.time_exit is TimeExit.NONE or order.created_at is None:
            return None
        day = order.created_at.astimezone(NEW_YORK).date()
        try:
            if not calendar.is_session(day):
                day = calendar.next_session(day)  # sent while closed: it fills at the next session
            for _ in range(max(card.horizon_days - 1, 0)):
                day = calendar.next_session(day)
        except ValueError:
            return None
        return day

    def _time_exit_due(self, e: ProtectedEntry, now: datetime) -> bool:
        last = e.last_session
        if last is None:
            return False
        today = now.astimezone(NEW_YORK).date()
        if today > last:
            return True
        if today < last or e.policy.time_exit is not TimeExit.CLOSE or not calendar.is_session(today):
            return False
        return now + self._step >= calendar.session_open_close(today)[1] - timedelta(seconds=1)

    def _load(self) -> None:
        """Entries of the open positions, found again from the store: the orders that opened each
        position since it was last flat, with their protective orders."""
        fills = self._store.load_fills()
        since: dict[str, int] = {}
        running: dict[str, float] = {}
        for i, f in enumerate(fills):
            before = running.get(f.symbol, 0.0)
            after = before + f.side.sign * f.quantity
            running[f.symbol] = after
            if abs(after) <= EPS or ((before > 0) != (after > 0) and abs(before) > EPS):
                since[f.symbol] = i + 1 if abs(after) <= EPS else i
        opening: dict[str, list[str]] = {}
        for i, f in enumerate(fills):
            if i >= since.get(f.symbol, 0) and f.client_order_id not in opening.get(f.symbol, []):
                opening.setdefault(f.symbol, []).append(f.client_order_id)
        for symbol, coids in opening.items():
            if abs(self._ledger.quantity(symbol)) <= EPS:
                continue
            known = {e.coid for e in self._entries.get(symbol, [])}
            for coid in coids:
                order = self._order(coid)
                if order is None or order.protects is not None or coid in known:
                    continue
                if order.parent_id:
                    order = self._order(order.parent_id)
                    if order is None or order.client_order_id in known:
                        continue
                    known.add(order.client_order_id)
                self._candidates.setdefault(symbol, set()).add(order.client_order_id)
            self._adopt_candidates(symbol)

    def _order(self, coid: str) -> Order | None:
        return self._orders.get(coid) or self._store.get_order(coid)

    def _legs(self, e: ProtectedEntry) -> list[Order]:
        return [o for o in (self._order(c) for c in e.legs) if o is not None]

    def _live(self, e: ProtectedEntry) -> list[Order]:
        return [o for o in self._legs(e) if not o.status.is_terminal]

    def _filled(self, e: ProtectedEntry) -> float:
        order = self._order(e.coid)
        return order.filled_quantity if order is not None else 0.0

    def _exited(self, e: ProtectedEntry) -> float:
        return sum(o.filled_quantity for o in self._legs(e))

    def _suspended(self) -> bool:
        """A halt that took protection away: flatten (level 2), or level 1 with cancel-all chosen."""
        state = self._risk.controller.state
        return state.halted and (state.kill_level >= 2 or self._settings.kill.level1_cancels_protection)

    def _atr(self, symbol: str) -> float | None:
        try:
            bars = self._market.history(symbol).tail(ATR_BARS * 3)
        except (KeyError, ValueError):
            return None
        if len(bars) < ATR_BARS:
            return None
        values = wilder_atr(
            bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), ATR_BARS
        )
        last = float(np.asarray(values)[-1])
        return last if math.isfinite(last) and last > 0 else None

    def _set_flag(self, symbol: str, why: str, *, force: bool = False) -> None:
        had = self.unprotected.get(symbol, "")
        if why == had and not force:
            return
        if not why:
            self.unprotected.pop(symbol, None)
            self._outbox.notice("info", f"{symbol}: protection working again")
            return
        self.unprotected[symbol] = why
        message = f"UNPROTECTED {symbol}: {why}"
        self._outbox.audit("engine", CommandSource.ENGINE, "unprotected", {"symbol": symbol, "why": why})
        self._bus.publish(RiskAlert(self._clock.now(), AlertCode.UNPROTECTED, "warning", message, symbol))


def _wrong_side(order: Order, stop: float | None, limit: float | None, reference: float) -> str:
    """Why a protective order's new price would fill at once ("" when it rests on its side)."""
    if reference <= 0:
        return f"no market price for {order.symbol}: a protective price cannot be checked now"
    sell = order.side is Side.SELL
    if stop is not None and (stop >= reference if sell else stop <= reference):
        where = "below" if sell else "above"
        return (
            f"stop {stop:,.2f} is not {where} the market {reference:,.2f}: a {order.side} stop there "
            "would fire at once; move it the other side of the market"
        )
    if (
        stop is None
        and limit is not None
        and order.order_type is OrderType.LMT
        and (limit <= reference if sell else limit >= reference)
    ):
        where = "above" if sell else "below"
        return (
            f"target {limit:,.2f} is not {where} the market {reference:,.2f}: it would fill at once; "
            "use an exit to close now"
        )
    return ""


def _rests_nothing(e: ProtectedEntry) -> bool:
    """A policy with no stop and no target (rotation, pairs, options: their time exit is their
    protection) rests no order at the broker, so its position is not UNPROTECTED."""
    if e.levels is not None:
        return e.levels.stop_price is None and e.levels.target_price is None
    no_target = e.policy.target_r is None or e.card.target_price is None
    return e.policy.stop is StopRule.NONE and no_target
