"""The live cards of the replayed intraday sets (``[data] replay_sets``): the intraday card
research path (``engine.research.intraday.card_for``) run on the bars that have closed by now.

- **At each session start** (the first quote step of a new session), every set's whole card
  (track record, backtest, buy-and-hold, walk-forward, permutation p-value, verdict) is computed
  on the bars closed by the session's first quote.
- **On each bar close** of a set (market time passing a bar's start + its size), its track record
  and whether the entry rule holds now (``scan_template`` on the bars closed by now, exactly the
  research card's) are refreshed; the backtest numbers keep the session start's.

Both run on a worker thread, never on the loop (a year of 15-minute bars' track record costs tens
of milliseconds a template, more than a paced step's interval): one computation of each kind at
a time; bars that close while a refresh runs are taken by the next, and a result older than the
card it would replace is dropped. A stepped engine (tests, benchmarks) waits for them.

A bar still forming is never seen: the cut is the bars' close times against the step's time, so
the card at a moment is the same whatever the bars after it are. A set with too few closed bars
for a template has no card for it yet (``missing`` says why). The cards are sizing-free research
rows (``SetCard``); an entry appearing is told to the operator in a notice.

**On the desk**: each card whose entry rule holds now is also a scan candidate (``entering``, the
``scan_template`` candidate at the last closed bar, with the card's verdict), which the daily card
pipeline (``runtime/cards.py``) sizes, checks, ranks and saves with its own: ``on_change`` asks it
to re-size when they change. A bar close's refresh replaces them, so a card its template no longer
signals leaves the desk then; a new session's start drops the last session's until its cards are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import numpy as np

from engine.clock import Clock
from engine.data.intraday_sets import IntradaySet
from engine.model.events import MarketEvent
from engine.research.intraday import SetCard, card_for, resolve_template, series_bars
from engine.runtime.outbox import Outbox
from engine.strategies.scan import Candidate, TrackRecord, scan_template
from engine.strategies.templates.base import Bars

log = logging.getLogger(__name__)
T = TypeVar("T")


class Abandoned(Exception):
    """The engine stopped while cards were being computed on a worker thread."""


Key = tuple[str, str]
"""(set name, template)."""
Entry = tuple[TrackRecord, Candidate | None]
"""A bar close's refresh of one card: its track record, and its candidate when it enters now."""


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
        self.entering: dict[Key, Candidate] = {}
        """(set, template) -> its candidate for the desk while its entry rule holds now."""
        self.on_change: Callable[[], None] | None = None
        """Called on the loop when ``entering`` changed (the card pipeline re-sizes)."""
        self.missing: dict[Key, str] = {}
        """(set, template) -> why it has no card yet (too few closed bars)."""
        self.refreshed_at: datetime | None = None
        self.computed_for: date | None = None
        """The session whose whole cards are in (None: none yet)."""
        self._day: date | None = None
        self._closed: dict[str, int] = {}
        """set -> bars closed that the cards reflect, or that a running refresh is computing on."""
        self._applied: dict[str, int] = {}
        """set -> bars closed that the shown cards reflect (an older result is dropped)."""
        self._work: set[asyncio.Future[Any]] = set()
        self._computing = False
        self._refreshing = False
        self._closes = {name: s.series.closes_at for name, s in self._sets.items()}
        """set -> each bar's close (``datetime64[m]``), computed once: a step only searches it."""
        self._bars = {name: series_bars(s.series) for name, s in self._sets.items()}
        self._bar_size = {name: np.timedelta64(s.series.bar.minutes, "m") for name, s in self._sets.items()}
        """set -> its bars as the templates read them; a refresh takes the closed head of them."""

    def stop(self) -> None:
        """The engine is stopping: computations on worker threads are abandoned (the threads are
        daemons that only read bars), so the stop does not wait for them."""
        for pending in self._work:
            if not pending.done():
                pending.set_exception(Abandoned())

    @property
    def pending(self) -> bool:
        """A session start's whole cards or a bar close's refresh is being computed."""
        return self._computing or self._refreshing

    def on_market(self, event: MarketEvent) -> None:
        """Every quote step: a new session computes the whole cards; a bar close refreshes its set."""
        day = self._session_day()
        if day is not None and day != self._day:
            self._day = day
            if self.entering:  # the last session's entries are not offered in this one
                self.entering = {}
                self._changed()
            if not self._computing:  # one at a time: sessions quicker than a computation skip theirs
                self._computing = True
                self._outbox.spawn(self._compute(day, event.ts), "intraday-cards")
                return
        stale = {k for k in self.entering if not self._fresh(k[0], event.ts)}
        if stale:  # its set's bars have ended (or paused: FX at the weekend): nothing to act on
            self.entering = {k: c for k, c in self.entering.items() if k not in stale}
            self._changed()
        if self._refreshing or not self._applied:
            return
        if any(self._closed_by(name, event.ts) != self._closed[name] for name in self._sets):
            self._refreshing = True
            self._outbox.spawn(self._refresh(), "intraday-card-refresh")

    def _fresh(self, name: str, now: datetime) -> bool:
        """Whether the set's last closed bar is still its latest news: a bar of it is being played
        now, or the last one closed less than a bar ago. Not after its data end, nor while its
        calendar is closed (an entry on Friday's last hour is not offered on Saturday)."""
        cut = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "m")
        closes, bar = self._closes[name], self._bar_size[name]
        n = int(np.searchsorted(closes, cut, side="right"))
        forming = n < len(closes) and closes[n] - bar <= cut
        return forming or (n > 0 and cut - closes[n - 1] < bar)

    def _closed_by(self, name: str, now: datetime) -> int:
        """Bars of the set closed by ``now`` (``IntradaySeries.closed_by`` on the kept closes)."""
        cut = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "m")
        return int(np.searchsorted(self._closes[name], cut, side="right"))

    async def _compute(self, day: date, now: datetime) -> None:
        """The whole cards of every set on the bars closed by ``now``."""
        try:
            closed = {name: self._closed_by(name, now) for name in self._sets}
            cut = {
                name: replace(s, series=replace(s.series, frame=s.series.frame.iloc[: closed[name]]))
                for name, s in self._sets.items()
            }
            permutations, seed = self._permutations, self._seed

            sets, heads = self._sets, {name: _head(self._bars[name], n) for name, n in closed.items()}

            def work() -> tuple[dict[Key, SetCard | str], dict[Key, Entry]]:
                out: dict[Key, SetCard | str] = {}
                for name, s in cut.items():
                    for template in s.templates:
                        try:
                            out[(name, template)] = card_for(
                                s, template, permutations=permutations, seed=seed
                            )
                        except ValueError as exc:  # too few bars yet: said, not raised
                            out[(name, template)] = str(exc)
                return out, _entries(sets, heads)

            found, entries = await self._in_thread(work, "intraday-cards")
        except Abandoned:
            return
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("intraday cards failed")
            self._outbox.notice("error", f"intraday cards for {day} could not be computed: {exc}")
            return
        finally:
            self._computing = False
        before = dict(self.cards)
        self.cards = {k: v for k, v in found.items() if isinstance(v, SetCard)}
        self.missing = {k: v for k, v in found.items() if isinstance(v, str)}
        self._applied = dict(closed)
        # a refresh under way may be computing on later bars than these: the later count stays
        self._closed = {name: max(n, self._closed.get(name, 0)) for name, n in closed.items()}
        self.computed_for, self.refreshed_at = day, now
        self._enter(entries, closed)
        self._tell(before)

    async def _refresh(self) -> None:
        """Bars closed: each changed set's track record and "entry now" on the bars closed by now,
        until no more have closed meanwhile."""
        try:
            while True:
                now = self._clock.now()
                todo = {
                    name: n
                    for name in self._sets
                    if (n := self._closed_by(name, now)) != self._closed.get(name, n)
                }
                if not todo:
                    return
                self._closed.update(todo)
                heads = {name: _head(self._bars[name], n) for name, n in todo.items()}
                found = await self._in_thread(
                    functools.partial(_entries, self._sets, heads), "intraday-card-refresh"
                )
                self._apply(todo, found, now)
        except Abandoned:
            return
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("intraday card refresh failed")
            self._outbox.notice("error", f"intraday cards could not be refreshed: {exc}")
        finally:
            self._refreshing = False

    def _apply(self, closed: Mapping[str, int], found: Mapping[Key, Entry], now: datetime) -> None:
        before = dict(self.cards)
        fresh = {name: n for name, n in closed.items() if n >= self._applied.get(name, 0)}
        for (name, template), (record, found_now) in found.items():
            card = self.cards.get((name, template))
            if card is None or name not in fresh:
                continue  # no card yet (too few bars at the session start), or a newer one shown
            reason = found_now.reason if found_now is not None else ""
            self.cards[(name, template)] = replace(
                card, record=record, entry_now=found_now is not None, reason=reason
            )
        self._enter({k: v for k, v in found.items() if k[0] in fresh}, fresh)
        for name, n in closed.items():
            self._applied[name] = max(n, self._applied.get(name, 0))
        self.refreshed_at = now
        self._tell(before)

    def _enter(self, found: Mapping[Key, Entry], closed: Mapping[str, int]) -> None:
        """The desk's candidates of the sets in ``closed``: the cards entering now, with their
        verdicts; those of a card that no longer enters (or has none yet) are dropped."""
        entering = {k: c for k, c in self.entering.items() if k[0] not in closed}
        for key, (_record, found_now) in found.items():
            card = self.cards.get(key)
            if found_now is not None and card is not None and self._fresh(key[0], self._clock.now()):
                entering[key] = replace(found_now, edge=card.verdict.edge, verdict=card.verdict.text)
        # candidates hold arrays: any of these sets' entries, before or now, is a change
        if any(k[0] in closed for k in (*self.entering, *entering)):
            self.entering = entering
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _tell(self, before: Mapping[Key, SetCard]) -> None:
        for key, card in sorted(self.cards.items()):
            was = before.get(key)
            if card.entry_now and (was is None or not was.entry_now):
                self._outbox.notice(
                    "info",
                    f"{card.set_name} {card.template}: entry now ({card.reason}); {card.verdict.text}",
                )

    async def _in_thread(self, work: Callable[[], T], name: str) -> T:
        """``work`` on its own daemon thread (not the loop's executor, whose threads the interpreter
        waits for at exit); ``stop`` abandons the wait."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[T] = loop.create_future()
        self._work.add(result)
        threading.Thread(target=_run, args=(work, result, loop), name=name, daemon=True).start()
        try:
            return await result
        finally:
            self._work.discard(result)


def _entries(sets: Mapping[str, IntradaySet], heads: Mapping[str, Bars]) -> dict[Key, Entry]:
    """Each template's track record and entry now on each set's closed bars (the research card's
    ``scan_template``, exactly)."""
    out: dict[Key, Entry] = {}
    for name, bars in heads.items():
        chosen = sets[name]
        for template in chosen.templates:
            tpl = resolve_template(template, chosen.series.bar)
            record, found, _outcomes, _setups = scan_template(tpl, {bars.symbol: bars}, tpl.params())
            out[(name, template)] = (record, found[0] if found else None)
    return out


def _head(bars: Bars, n: int) -> Bars:
    """The first ``n`` bars (views, no copies)."""
    return Bars(
        bars.symbol,
        bars.dates[:n],
        bars.open[:n],
        bars.high[:n],
        bars.low[:n],
        bars.close[:n],
        bars.volume[:n],
    )


def _run(work: Callable[[], T], result: asyncio.Future[T], loop: asyncio.AbstractEventLoop) -> None:
    """The computation on its thread, its outcome handed to the engine's loop unless that is gone
    (the engine stopped meanwhile) or the wait was abandoned."""

    def settle(value: T | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    try:
        found: T | None = work()
        error: BaseException | None = None
    except Exception as exc:
        found, error = None, exc
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle, found, error)
