"""Crash points: the process dies at every commit of the order path, restarts and reconciles.

The SIGKILL test (``test_crash_safety``) kills at random moments; this one kills at each moment
that matters, in process, deterministically. A real ``Engine`` on a SQLite file under tmp_path with
the paper broker and its journal executes a card and plays quotes until the order is filled. A
reference run counts the commits from the command to the fill (each commit is a boundary: the
intent, the acknowledgement after the send, the fill with its order's state and audit entries, and
whatever else the engine records on the way). Then, for every N, a fresh run dies at commit N:

* *before*: commit N raises ``SimulatedCrash`` instead of committing, and every later commit does
  too (the process is gone; the file keeps only what was committed before);
* *after*: commit N reaches the disk and the process dies right after it. Run only where the
  broker's journal changed before the next commit (a send, a fill at the broker): elsewhere "after
  N" leaves the same files as "before N + 1".

``SimulatedCrash`` is a ``BaseException``, so no ``except Exception`` in the engine (the bus's
handler guard, the send's error path) can swallow it. The dead engine is abandoned as a killed
process is: its event loop is dropped with whatever it still had pending, its broker's journal and
its database connections are released without a stop. A new engine then starts on the same files,
reconciles at start, and plays on until the order is done; the test asserts what a crash must
never cost:

* the write-ahead rule: every order the broker received was stored first, and none twice;
* no lost fill and no misrecorded order: every fill in the journal is stored, and an order with
  fills is FILLED with all of them (never CANCELLED as vanished), its fills audited, nothing found
  lagging (``fills_repaired`` is empty: a fill and its order's state are one transaction);
* the audit chain verifies; positions (engine and broker) equal the stored fills;
* the thing happened: the order was stored whenever the crash came after its intent commit, and
  its fill whenever the broker filled it.

At the end the boundaries the crashes hit are counted by kind, so the loop cannot pass vacuously.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy import Engine as SqlEngine

from engine.actor import Actor
from engine.brokers.paper import PaperBroker, journal_path_for, read_journal
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, Order, OrderStatus, Side
from engine.model.events import ExecuteCard
from engine.store import Store

OPERATOR = Actor("crash-tester", CommandSource.HOTKEY)
QTY_TOLERANCE = 1e-6
MAX_STEPS = 40
"""Quote steps a life may play before the order must be done (it is a market order: one or two)."""
KINDS = ("intent", "sent, not acknowledged", "ack", "fill", "order update", "audit", "after intent")
"""Boundaries the crashes must hit: a commit holding the INTENT row, a death between the send (the
journal's accept) and the acknowledgement's commit, commits holding the acknowledgement, the fill
row, the order's filled state and an audit entry, and a death right after the intent commit, before
the send."""

T = TypeVar("T")


class SimulatedCrash(BaseException):
    """The process dies here. A BaseException: nothing in the engine may catch it and go on."""


# --------------------------------------------------------------------------- the trap
@dataclass
class Commit:
    """One commit of the database: its index since the trap was armed and what it wrote."""

    index: int
    writes: frozenset[str]
    journal_size: int
    """The broker journal's size when it was asked for (what the broker had done by then)."""


@dataclass
class CommitTrap:
    """Counts the commits of one database file; at ``crash_at`` the process dies.

    Listens to SQLAlchemy's own events on every engine (it is the store's, found by its file):
    ``before_cursor_execute`` classifies the writes of the open transaction, ``commit`` counts.
    """

    db: Path
    crash_at: int | None = None
    after: bool = False
    armed: bool = False
    dead: bool = False
    commits: list[Commit] = field(default_factory=list)
    journal_at_death: int | None = None
    _pending: dict[int, set[str]] = field(default_factory=dict)

    def _ours(self, conn: Connection) -> bool:
        return conn.engine.url.database == str(self.db)

    def on_execute(
        self, conn: Connection, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool
    ) -> None:
        if not self._ours(conn):
            return
        values = params if isinstance(params, tuple) else ()
        head = statement.lstrip()[:40].upper()
        writes = self._pending.setdefault(id(conn.connection.dbapi_connection), set())
        if head.startswith("INSERT INTO ORDERS"):
            writes.add("intent")
        elif head.startswith("UPDATE ORDERS"):
            if OrderStatus.ACKNOWLEDGED.value in values:
                writes.add("ack")
            if OrderStatus.FILLED.value in values or OrderStatus.PARTIALLY_FILLED.value in values:
                writes.add("order update")
        elif head.startswith("INSERT INTO FILLS"):
            writes.add("fill")
        elif head.startswith("INSERT INTO AUDIT_EVENTS"):
            writes.add("audit")

    def on_rollback(self, conn: Connection) -> None:
        if self._ours(conn):
            self._pending.pop(id(conn.connection.dbapi_connection), None)

    def on_commit(self, conn: Connection) -> None:
        if not self._ours(conn):
            return
        writes = frozenset(self._pending.pop(id(conn.connection.dbapi_connection), set()))
        if self.dead:
            raise SimulatedCrash("the process is dead: nothing more reaches the disk")
        if not self.armed:
            return
        journal = journal_path_for(self.db)
        commit = Commit(len(self.commits) + 1, writes, journal.stat().st_size if journal.exists() else 0)
        self.commits.append(commit)
        if commit.index != self.crash_at:
            return
        self.dead = True
        self.journal_at_death = commit.journal_size
        if self.after:
            conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]  # on disk, then death
        raise SimulatedCrash(f"died {'after' if self.after else 'at'} commit {commit.index}")

    @contextmanager
    def listening(self) -> Iterator[CommitTrap]:
        hooks: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", self.on_execute),
            ("rollback", self.on_rollback),
            ("commit", self.on_commit),
        ]
        for name, hook in hooks:
            event.listen(SqlEngine, name, hook)
        try:
            yield self
        finally:
            for name, hook in hooks:
                event.remove(SqlEngine, name, hook)


# --------------------------------------------------------------------------- one life of the process
def _live(life: Callable[[], Awaitable[T]]) -> T:
    """Run one process life on its own event loop; a crash drops the loop with what it had pending."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(life())
    except SimulatedCrash:
        # The dead process's pending tasks are never run again; their "destroyed but pending"
        # complaint (made when they are collected) is what a killed process would not print.
        loop.set_exception_handler(lambda _loop, _context: None)
        raise
    finally:
        loop.close()


@dataclass
class FirstLife:
    card_id: str
    crashed: bool = False


def _first_life(
    settings: Settings, db: Path, shipped: MarketData, trap: CommitTrap, card_id: str | None
) -> FirstLife:
    """Start, play a session, execute one single-leg buy card, play until its order is done.

    Dies wherever the trap says; then nothing is closed politely, only the files remain.
    """
    engine = Engine(settings, database=db, market=shipped, paced=False)
    out = FirstLife(card_id or "")

    async def life() -> None:
        await engine.start()
        await engine.step_day()  # the broker knows prices only from quotes
        if not out.card_id:
            out.card_id = next(
                c.card_id for c in engine.cards if len(c.legs) == 1 and c.legs[0].side is Side.BUY
            )
        trap.armed = True
        result = await engine.handle(ExecuteCard(out.card_id), OPERATOR)
        assert result.ok, result.message
        for _ in range(MAX_STEPS):
            if _done(engine.store, out.card_id):
                break
            await engine.step(1)
            if trap.dead:  # died in a task the driver does not await: the process is gone all the same
                raise SimulatedCrash("died in a background task")
        trap.armed = False
        assert _done(engine.store, out.card_id), "the reference order never finished"
        await engine.stop()

    try:
        _live(life)
    except SimulatedCrash:
        out.crashed = True
        broker = engine.broker
        assert isinstance(broker, PaperBroker)
        broker.close()  # the kernel releases a dead process's files and locks, nothing more
        engine.abandon()
    return out


def _the_order(store: Store, card_id: str) -> Order | None:
    """The card's one order, once its intent is stored."""
    orders = [o for o in store.load_orders() if o.card_id == card_id]
    assert len(orders) <= 1, orders
    return orders[0] if orders else None


def _done(store: Store, card_id: str) -> bool:
    order = _the_order(store, card_id)
    return order is not None and order.status.is_terminal


@dataclass
class Afterlife:
    """What the restarted engine found and left."""

    fills_applied: tuple[str, ...]
    fills_repaired: tuple[str, ...]
    problems: tuple[str, ...]
    ledger: dict[str, float]
    broker: dict[str, float]


def _second_life(settings: Settings, db: Path, shipped: MarketData, card_id: str) -> Afterlife:
    """Start again on the same files (reconciling at start) and play until the order is done."""
    engine = Engine(settings, database=db, market=shipped, paced=False)

    async def life() -> Afterlife:
        await engine.start()
        try:
            summary = engine.reconciliation
            assert summary is not None, "the engine started without reconciling"
            for _ in range(MAX_STEPS):  # an order still working at the broker fills now
                if _the_order(engine.store, card_id) is None or _done(engine.store, card_id):
                    break
                await engine.step(1)
            return Afterlife(
                fills_applied=summary.fills_applied,
                fills_repaired=summary.fills_repaired,
                problems=summary.problems,
                ledger={p.symbol: p.quantity for p in engine.ledger.positions(include_flat=False)},
                broker={p.symbol: p.quantity for p in await engine.broker.positions()},
            )
        finally:
            await engine.stop()

    return _live(life)


# --------------------------------------------------------------------------- the examination
def _examine(db: Path, card_id: str, after: Afterlife) -> tuple[Order | None, int]:
    """The files after the restart: what no crash may cost. Returns the order and its fill count."""
    records = read_journal(journal_path_for(db))
    sent = Counter(
        r["order"]["client_order_id"] if "order" in r else r["coid"]
        for r in records
        if r["e"] in ("accept", "reject", "resubmit")
    )
    journal_fills = {r["fill"]["exec_id"]: r["fill"] for r in records if r["e"] == "fill"}
    with Store.open(db) as store:
        assert store.integrity_check() == []
        verdict = store.verify_audit()
        assert verdict.ok, verdict.message
        assert after.problems == ()
        assert [c for c, n in sent.items() if n > 1] == [], f"sent twice: {sent}"
        unwritten = [c for c in sent if store.get_order(c) is None]
        assert unwritten == [], f"sent before it was stored: {unwritten}"

        fills = store.load_fills()
        assert {f.exec_id for f in fills} == set(journal_fills), "a fill of the broker's is not stored"
        assert store.unaudited_fills() == [], "a stored fill has no audit entry"
        assert after.fills_repaired == (), f"an order lagged its fills: {after.fills_repaired}"
        for stored in store.load_orders():
            mine = [f for f in fills if f.client_order_id == stored.client_order_id]
            total = sum(f.quantity for f in mine)
            assert abs(stored.filled_quantity - total) <= QTY_TOLERANCE, (stored, mine)
            if mine:
                assert stored.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED), stored
            if stored.status is OrderStatus.FILLED:
                assert mine, stored

        positions: dict[str, float] = {}
        for f in fills:
            positions[f.symbol] = positions.get(f.symbol, 0.0) + f.side.sign * f.quantity
        positions = {s: q for s, q in positions.items() if abs(q) > QTY_TOLERANCE}
        for book in (after.ledger, after.broker):
            assert book.keys() == positions.keys(), (book, positions)
            for symbol, qty in positions.items():
                assert abs(book[symbol] - qty) <= QTY_TOLERANCE, (symbol, book[symbol], qty)

        order = _the_order(store, card_id)
        count = 0 if order is None else len(store.load_fills(client_order_id=order.client_order_id))
        return order, count


def _kinds(crash: Commit, after: bool, accepted_at_death: bool, acked_before: bool) -> set[str]:
    """The boundaries a crash hit, for the coverage count."""
    if after:
        return {"after intent"} if "intent" in crash.writes else set()
    kinds = set(crash.writes)
    if accepted_at_death and not acked_before:
        kinds.add("sent, not acknowledged")
    return kinds


# --------------------------------------------------------------------------- the test
def test_a_crash_at_every_commit_of_the_order_path_loses_and_repeats_nothing(
    tmp_path: Path, shipped: MarketData
) -> None:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})

    reference_db = tmp_path / "reference" / "onetap.db"
    with CommitTrap(reference_db).listening() as reference:
        ref = _first_life(settings, reference_db, shipped, reference, None)
    assert not ref.crashed
    commits = reference.commits
    intent_at = next(c.index for c in commits if "intent" in c.writes)
    ack_at = next(c.index for c in commits if "ack" in c.writes)
    fill_at = next(c.index for c in commits if "fill" in c.writes)
    assert intent_at < ack_at < fill_at
    assert {"fill", "order update", "audit"} <= commits[fill_at - 1].writes  # one transaction
    # Every commit to the fill, and the one past it (the path is complete there).
    last = min(fill_at + 1, len(commits))
    points = [(n, False) for n in range(1, last + 1)]
    points += [
        (n, True)
        for n in range(1, last + 1)
        if n == last or commits[n].journal_size != commits[n - 1].journal_size
    ]

    hit: Counter[str] = Counter()
    for n, after in points:
        db = tmp_path / f"crash-{n}{'-after' if after else ''}" / "onetap.db"
        with CommitTrap(db, crash_at=n, after=after).listening() as trap:
            first = _first_life(settings, db, shipped, trap, ref.card_id)
        where = f"crash {'after' if after else 'at'} commit {n}"
        assert first.crashed and trap.dead, f"{where}: the run finished without dying"
        assert trap.journal_at_death == journal_path_for(db).stat().st_size, (
            f"{where}: the broker acted after the process died"
        )
        crash = trap.commits[n - 1]
        assert crash.writes == commits[n - 1].writes, f"{where}: the run did not repeat the reference"
        records = read_journal(journal_path_for(db))
        accepted = [r["order"]["client_order_id"] for r in records if r["e"] == "accept"]
        broker_filled = any(r["e"] == "fill" for r in records)

        survivor = _second_life(settings, db, shipped, ref.card_id)
        order, fills = _examine(db, ref.card_id, survivor)

        stored_intent = n > intent_at or (after and n == intent_at)
        if stored_intent:
            assert order is not None, f"{where}: the order's intent was committed but is gone"
            assert accepted == [order.client_order_id] or not accepted, f"{where}: {accepted}"
        else:
            assert order is None and accepted == [], f"{where}: sent without its intent committed"
        if broker_filled or n > fill_at or (after and n == fill_at):
            assert order is not None and fills >= 1, f"{where}: the fill is gone"
            assert order.status is OrderStatus.FILLED, f"{where}: {order}"
            assert order.filled_quantity > 0 and "0 of" not in order.reason, f"{where}: {order}"
        hit.update(_kinds(crash, after, bool(accepted) and crash.index <= ack_at, n > ack_at))

    print(
        f"crash points: {len(points)} crashes over {len(commits)} commits (intent {intent_at}, ack {ack_at}, "
        f"fill {fill_at}); boundaries hit: {dict(sorted(hit.items()))}"
    )
    missing = [kind for kind in KINDS if hit[kind] == 0]
    assert missing == [], f"no crash hit these boundaries: {missing} (hit: {dict(hit)})"
    assert len(points) >= len(KINDS)
