"""The live cards of the replayed intraday sets (``[data] replay_sets``): the intraday card
research path (``engine.research.intraday.card_for``) run on the bars that have closed by now.

- **At each session start** (the first quote step of a new session), every set's whole card
  (track record, backtest, buy-and-hold, walk-forward, permutation p-value, verdict) is computed
  off the loop on a worker thread, on the bars closed by the session's first quote.
- **On each bar close** of a set (market time passing a bar's start + its size), its track record
  and whether the entry rule holds now (``scan_template`` on the bars closed by now) are refreshed
  on the loop: one compiled scan per template, milliseconds; the backtest numbers keep the
  session start's.

A bar still forming is never seen: the cut is ``IntradaySeries.until(now)``, so the card at a
moment is the same whatever the bars after it are. A set with too few closed bars for a template
has no card for it yet (``missing`` says why). The cards are sizing-free research rows
(``SetCard``); a change of "entry now" is told to the operator in a notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np

from engine.clock import Clock
from engine.data.intraday_sets import IntradaySet
from engine.model.events import MarketEvent
from engine.research.intraday import SetCard, card_for, resolve_template, series_bars
from engine.runtime.outbox import Outbox
from engine.strategies.scan import scan_template
from engine.strategies.templates.base import Bars

log = logging.getLogger(__name__)


class Abandoned(Exception):
    """The engine stopped while a session start's cards were being computed."""


Key = tuple[str, str]
"""(set name, template)."""


class LiveSetCards:
    def __init__(
        self,
        sets: Mapping[str, IntradaySet],
        *,
        clock: Clock,
        outbox: Outbox,
        session_day: Callable[[], date | None],
        permutations: int,
        seed: int,
    ) -> None:
        self._sets = dict(sets)
        self._clock = clock
        self._outbox = outbox
        self._session_day = session_day
        self._permutations = permutations
        self._seed = seed
        self.cards: dict[Key, SetCard] = {}
        """(set, template) -> its card as of ``refreshed_at``."""
        self.missing: dict[Key, str] = {}
        """(set, template) -> why it has no card yet (too few closed bars)."""
        self.refreshed_at: datetime | None = None
        self.computed_for: date | None = None
        """The session whose whole cards are in (None: none yet)."""
        self._day: date | None = None
        self._closed: dict[str, int] = {}
        """set -> bars closed when its card was last refreshed."""
        self._pending: asyncio.Future[dict[Key, SetCard | str]] | None = None
        self._closes = {name: s.series.closes_at for name, s in self._sets.items()}
        """set -> each bar's close (``datetime64[m]``), computed once: a step only searches it."""
        self._bars = {name: series_bars(s.series) for name, s in self._sets.items()}
        """set -> its bars as the templates read them; a refresh takes the closed head of them."""

    def stop(self) -> None:
        """The engine is stopping: a computation on its worker thread is abandoned (its thread is
        a daemon that only reads bars), so the stop does not wait for it."""
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(Abandoned())

    @property
    def pending(self) -> bool:
        """A session start's whole cards are being computed off the loop."""
        return self._pending is not None and not self._pending.done()

    def on_market(self, event: MarketEvent) -> None:
        """Every quote step: a new session computes the whole cards; a bar close refreshes its set."""
        day = self._session_day()
        if day is not None and day != self._day:
            self._day = day
            if not self.pending:  # one at a time: sessions quicker than a computation skip theirs
                self._outbox.spawn(self._compute(day, event.ts), "intraday-cards")
                return
        for name, chosen in self._sets.items():
            n = self._closed_by(name, event.ts)
            if n != self._closed.get(name, n):
                self._refresh(name, chosen, event.ts, n)

    def _closed_by(self, name: str, now: datetime) -> int:
        """Bars of the set closed by ``now`` (``IntradaySeries.closed_by`` on the kept closes)."""
        cut = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "m")
        return int(np.searchsorted(self._closes[name], cut, side="right"))

    async def _compute(self, day: date, now: datetime) -> None:
        """The whole cards of every set on the bars closed by ``now``, on a worker thread."""
        cut = {name: replace(s, series=s.series.until(now)) for name, s in self._sets.items()}
        permutations, seed = self._permutations, self._seed

        def work() -> dict[Key, SetCard | str]:
            out: dict[Key, SetCard | str] = {}
            for name, s in cut.items():
                for template in s.templates:
                    try:
                        out[(name, template)] = card_for(s, template, permutations=permutations, seed=seed)
                    except ValueError as exc:  # too few bars yet: said, not raised
                        out[(name, template)] = str(exc)
            return out

        loop = asyncio.get_running_loop()
        self._pending = result = loop.create_future()
        threading.Thread(target=_run, args=(work, result, loop), name="intraday-cards", daemon=True).start()
        try:
            found = await result
        except Abandoned:
            return
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("intraday cards failed")
            self._outbox.notice("error", f"intraday cards for {day} could not be computed: {exc}")
            return
        before = dict(self.cards)
        self.cards = {k: v for k, v in found.items() if isinstance(v, SetCard)}
        self.missing = {k: v for k, v in found.items() if isinstance(v, str)}
        self._closed = {name: len(s.series.frame) for name, s in cut.items()}
        self.computed_for, self.refreshed_at = day, now
        self._tell(before)
        # bars that closed while the thread worked are caught up at once
        for name, chosen in self._sets.items():
            n = self._closed_by(name, self._clock.now())
            if n != self._closed[name]:
                self._refresh(name, chosen, self._clock.now(), n)

    def _refresh(self, name: str, chosen: IntradaySet, now: datetime, closed: int) -> None:
        """A bar of ``name`` closed: its track record and "entry now" on the bars closed by ``now``."""
        self._closed[name] = closed
        b = self._bars[name]
        head = Bars(
            b.symbol,
            b.dates[:closed],
            b.open[:closed],
            b.high[:closed],
            b.low[:closed],
            b.close[:closed],
            b.volume[:closed],
        )
        panel = {b.symbol: head}
        before = dict(self.cards)
        for template in chosen.templates:
            card = self.cards.get((name, template))
            if card is None:
                continue  # not computed yet (too few bars at the session start): the next one
            tpl = resolve_template(template, chosen.series.bar)
            record, found, _outcomes, _setups = scan_template(tpl, panel, tpl.params())
            self.cards[(name, template)] = replace(
                card, record=record, entry_now=bool(found), reason=found[0].reason if found else ""
            )
        self.refreshed_at = now
        self._tell(before)

    def _tell(self, before: Mapping[Key, SetCard]) -> None:
        for key, card in sorted(self.cards.items()):
            was = before.get(key)
            if card.entry_now and (was is None or not was.entry_now):
                self._outbox.notice(
                    "info",
                    f"{card.set_name} {card.template}: entry now ({card.reason}); {card.verdict.text}",
                )


def _run(
    work: Callable[[], dict[Key, SetCard | str]],
    result: asyncio.Future[dict[Key, SetCard | str]],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The computation on its own daemon thread, its outcome handed to the engine's loop unless
    that is gone (the engine stopped meanwhile)."""

    def settle(value: dict[Key, SetCard | str] | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            assert value is not None
            result.set_result(value)

    try:
        found: dict[Key, SetCard | str] | None = work()
        error: BaseException | None = None
    except Exception as exc:
        found, error = None, exc
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle, found, error)
