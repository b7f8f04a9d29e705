"""Crash safety (architecture rule 8): SIGKILL a headless engine at random moments, then prove it.

Each trial runs ``onetap --engine-only`` as a real subprocess on its own database, attaches over
the socket, executes cards, and kills the process with SIGKILL at a seeded random moment counted
from the first order the broker took: while cards are executing, or after, while their fills are
still arriving (a kill before anything traded would prove nothing about orders and fills). The
engine is then started again on the same files (it reconciles at start) and killed again. After
the last kill the files are examined (after checking that orders and fills happened at all):

* ``store.integrity_check()`` is clean and the audit chain verifies;
* every order the broker received was written to the database first, and no client order id was
  submitted to the broker twice (counted in the paper broker's journal, which records every
  order it received, a repeated id included);
* every fill in the journal is in the database, or is applied by ``reconcile`` run here against a
  paper broker rebuilt from the journal, exactly once;
* after that reconcile the engine's positions, recomputed from the database's fills, are the
  broker's, and no order is open in the database that the broker is not working.

What it expects of the engine (engine/kernel.py):

* the paper broker is built with ``journal=journal_path_for(database)``
  (``database.with_suffix(".paper.jsonl")``), and released on stop (``disconnect``);
* at start, ``broker.adopt_book(...)`` from the ledger only when ``not broker.remembers``, then
  ``reconcile(store=..., broker=..., orders=..., ledger_positions=<snapshot>, now=clock.now())``
  instead of expiring every open order;
* ``[engine] auto_approve_recovery = true`` lets the headless engine trade after that (if it does
  not, cards are refused in the later rounds and the checks still hold, with fewer orders).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.client import SocketClient
from engine.brokers.paper import journal_path_for, read_journal
from engine.clock import FixedClock
from engine.execution.order_manager import OrderManager
from engine.execution.recovery import reconcile
from engine.model import Fill, OrderStatus, Side
from engine.model.events import (
    CardsEvent,
    Event,
    ExecuteCard,
    FillEvent,
    OrderEvent,
    SnapshotEvent,
)
from engine.store import Store
from tests.defaults import paper_broker

ENGINE_WIRED = True
"""Set to True (or delete with the skip below) once engine/kernel.py builds the paper broker with
its journal and calls ``reconcile`` at start: without a journal there is nothing to examine."""

SEED = 20240304
QUICK_TRIALS = 2
"""Two trials run side by side (one per core): four kills of a trading engine; the slow test runs 50."""
SLOW_TRIALS = 50
ROUNDS = 2
"""Engine runs per trial (each killed): the second one starts by reconciling what the first left."""
QTY_TOLERANCE = 1e-6

pytestmark = pytest.mark.skipif(
    not ENGINE_WIRED,
    reason="engine/kernel.py does not yet build PaperBroker(journal=journal_path_for(database)) and "
    "call engine.execution.recovery.reconcile at start instead of expiring open orders",
)


@dataclass
class CrashCounts:
    """What the trials did and found; ``duplicates`` and ``lost_fills`` must be zero."""

    trials: int = 0
    kills: int = 0
    orders_accepted: int = 0
    fills: int = 0
    fills_recovered: int = 0
    """Fills the broker made that the dead engine never recorded: applied by reconcile."""
    duplicates: int = 0
    lost_fills: int = 0
    kills_armed_on_orders: int = 0
    """Kills whose timer started only once the broker had taken an order."""
    trials_that_traded: int = 0
    """Trials whose first engine had an order working before its kill was armed."""
    kill_times: list[float] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"crash safety: {self.trials} trials ({self.trials_that_traded} traded before the first kill), "
            f"{self.kills} kills ({self.kills_armed_on_orders} armed by a working order), "
            f"{self.orders_accepted} orders accepted, "
            f"{self.fills} fills ({self.fills_recovered} recovered by reconcile), "
            f"{self.duplicates} duplicates found, {self.lost_fills} lost fills"
        )


# --------------------------------------------------------------------------- the engine process
def _config(folder: Path) -> Path:
    cfg = folder / "onetap.toml"
    folder.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f'[store]\ndatabase = "{folder / "db" / "onetap.db"}"\n'
        f'[engine]\nsocket = "{folder / "run" / "engine.sock"}"\nauto_approve_recovery = true\n'
        "[replay]\nseconds_per_day = 3.0\nsteps_per_day = 60\n"
    )
    return cfg


def _spawn(cfg: Path, folder: Path, run: int) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the engine with stdout in a file: a pipe nobody reads would block it on a full buffer."""
    env = {**os.environ, "XDG_DATA_HOME": str(folder / "xdg"), "XDG_RUNTIME_DIR": str(folder / "xdgrun")}
    out = folder / f"engine-{run}.out"
    with out.open("wb") as stdout, (folder / f"engine-{run}.err").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    return proc, out


def _wait_started(proc: subprocess.Popen[bytes], out: Path, timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in out.read_text().splitlines():
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if data.get("event") == "EngineStarted":
                    return Path(str(data["socket"]))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    err = out.with_suffix(".err").read_text() if out.with_suffix(".err").exists() else ""
    raise AssertionError(f"the engine did not start (exit {proc.poll()}): {err[-2000:]}")


WORKING = frozenset({OrderStatus.ACKNOWLEDGED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})
"""An order the broker has taken (and may already have filled): from here a kill can hurt."""
ARM_DEADLINE_S = 30.0
"""How long a round may trade, counted from its first cards, without any order working before the
kill is armed anyway (a restarted engine whose cards are refused); the trial's counts then show
the round did not trade. Counted from the first cards, not from the start: on a loaded machine the
day's card generation alone can take most of a fixed wall-clock budget."""
NO_CARDS_DEADLINE_S = 120.0
"""The bound on waiting for a round's first cards (then the kill is armed, and the counts say so)."""


@dataclass
class Round:
    """What one engine run did before its kill, as the client saw it."""

    armed_on_working_order: bool = False
    """The kill timer started only after the broker had taken an order (the point of the test)."""
    orders_seen: int = 0
    fills_seen: int = 0


def _overdue(now: float, started: float, first_cards: list[float], *, have_cards: bool) -> bool:
    """True once a round has waited too long for a working order (see ``ARM_DEADLINE_S``);
    notes the time of the round's first cards in ``first_cards``."""
    if have_cards and not first_cards:
        first_cards.append(now)
    if first_cards:
        return now - first_cards[0] > ARM_DEADLINE_S
    return now - started > NO_CARDS_DEADLINE_S


async def _trade_until_killed(
    sock: Path, proc: subprocess.Popen[bytes], kill_after: float, trade_for: float, rng: random.Random
) -> Round:
    """Execute cards until an order works, then SIGKILL the engine ``kill_after`` seconds later.

    The kill is armed by the first order the broker acknowledges (an engine killed before it
    traded proves nothing about orders and fills), and it is a timer, not a step of the loop, so
    it lands wherever the engine is: between commands, in the middle of one, or while fills of
    earlier orders are still coming in. Cards keep being executed for ``trade_for`` seconds after
    the arming, so a kill shorter than that lands while trading and a longer one after it.
    """
    loop = asyncio.get_running_loop()
    seen = Round()
    armed_at: list[float] = []
    cards: dict[str, Any] = {}
    client = SocketClient(sock)

    def arm(on_working_order: bool) -> None:
        if not armed_at:
            armed_at.append(loop.time())
            seen.armed_on_working_order = on_working_order
            loop.call_later(kill_after, proc.kill)

    def sink(event: Event) -> None:
        if isinstance(event, SnapshotEvent | CardsEvent):
            cards.clear()
            cards.update({c.card_id: c for c in event.cards})
        elif isinstance(event, OrderEvent):
            seen.orders_seen += 1
            if event.order.status in WORKING:
                arm(on_working_order=True)
        elif isinstance(event, FillEvent):
            seen.fills_seen += 1

    t0 = loop.time()
    first_cards: list[float] = []
    try:
        await client.connect(sink)
        while proc.poll() is None:
            now = loop.time()
            if not armed_at and _overdue(now, t0, first_cards, have_cards=bool(cards)):
                arm(on_working_order=False)
            if armed_at and now - armed_at[0] >= trade_for:
                break
            buys = [c for c in cards.values() if c.legs and c.legs[0].side is Side.BUY]
            pool = buys or list(cards.values())
            if pool:
                card = rng.choice(pool)
                await asyncio.wait_for(client.send(ExecuteCard(card.card_id, override_duplicate=True)), 10)
            await asyncio.sleep(rng.uniform(0.01, 0.15))  # pacing between commands, not a wait for state
    except (TimeoutError, ConnectionError, OSError):
        pass  # the engine died under us: that is the point
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    # the timer kills it; poll for the exit (bounded: a missing kill fails the trial's exit check)
    while proc.poll() is None and armed_at and loop.time() - armed_at[0] < kill_after + 30:
        await asyncio.sleep(0.02)
    return seen


# --------------------------------------------------------------------------- the examination
async def _examine(db: Path, counts: CrashCounts) -> None:
    journal = journal_path_for(db)
    assert journal.exists(), f"{journal}: the engine wrote no paper journal (is the broker built with it?)"
    records = read_journal(journal)
    store = Store.open(db)
    try:
        assert store.integrity_check() == []
        verdict = store.verify_audit()
        assert verdict.ok, verdict.message

        submitted = Counter(
            r["order"]["client_order_id"] if "order" in r else r["coid"]
            for r in records
            if r["e"] in ("accept", "reject", "resubmit")
        )
        counts.duplicates += sum(n - 1 for n in submitted.values())
        counts.orders_accepted += sum(1 for r in records if r["e"] == "accept")
        unwritten = [coid for coid in submitted if store.get_order(coid) is None]
        assert unwritten == [], f"sent to the broker but never written first: {unwritten}"

        journal_fills = [r["fill"]["exec_id"] for r in records if r["e"] == "fill"]
        counts.fills += len(journal_fills)
        before = {f.exec_id for f in store.load_fills()}

        clock = FixedClock(_last_ts(records))
        broker = paper_broker(clock, journal=journal)
        applied: list[Fill] = []
        orders = OrderManager(store, broker, clock, lambda _event: None, applied.append)
        await broker.connect()
        summary = await reconcile(
            store=store, broker=broker, orders=orders, ledger_positions=_positions(store), now=clock.now()
        )
        assert summary.problems == (), summary.problems
        assert set(summary.fills_applied) == set(journal_fills) - before
        assert len(applied) == len(summary.fills_applied)  # each reached the ledger once
        counts.fills_recovered += len(summary.fills_applied)
        after = {f.exec_id for f in store.load_fills()}
        counts.lost_fills += sum(1 for exec_id in journal_fills if exec_id not in after)

        broker_positions = {p.symbol: p.quantity for p in await broker.positions()}
        engine_positions = {s: q for s, q in _positions(store).items() if abs(q) > QTY_TOLERANCE}
        assert engine_positions.keys() == broker_positions.keys()
        for symbol, qty in engine_positions.items():
            assert abs(qty - broker_positions[symbol]) <= QTY_TOLERANCE, (
                symbol,
                qty,
                broker_positions[symbol],
            )
        assert summary.position_mismatches == ()
        working = {o.client_order_id for o in await broker.open_orders()}
        stale = [o.client_order_id for o in store.load_orders(open_only=True) if not o.algo]
        assert set(stale) <= working, f"open in the database, not at the broker: {set(stale) - working}"
        assert store.verify_audit().ok
        await broker.disconnect()
    finally:
        store.close()


def _positions(store: Store) -> dict[str, float]:
    out: dict[str, float] = {}
    for fill in store.load_fills():
        out[fill.symbol] = out.get(fill.symbol, 0.0) + fill.side.sign * fill.quantity
    return out


def _last_ts(records: list[dict[str, Any]]) -> datetime:
    stamps = [datetime.fromisoformat(r["ts"]) for r in records if "ts" in r]
    return max(stamps) if stamps else datetime(2024, 1, 2, tzinfo=UTC)


def run_crash_trials(
    root: Path, trials: int, *, seed: int = SEED, rounds: int = ROUNDS, workers: int = 2
) -> CrashCounts:
    """Run the trials under ``root``, ``workers`` at a time, and examine each; returns the counts.

    Each trial has its own folder, socket and seeded generator, so running two side by side (one
    per core) changes nothing in what a trial does, only how long the fifty take.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda t: _one_trial(root, t, seed, rounds), range(trials)))
    counts = CrashCounts()
    for result in results:
        counts.trials += result.trials
        counts.kills += result.kills
        counts.orders_accepted += result.orders_accepted
        counts.fills += result.fills
        counts.fills_recovered += result.fills_recovered
        counts.duplicates += result.duplicates
        counts.lost_fills += result.lost_fills
        counts.kills_armed_on_orders += result.kills_armed_on_orders
        counts.trials_that_traded += result.trials_that_traded
        counts.kill_times.extend(result.kill_times)
    return counts


def _one_trial(root: Path, trial: int, seed: int, rounds: int) -> CrashCounts:
    rng = random.Random(seed * 1000 + trial)
    counts = CrashCounts()
    folder = root / f"trial-{trial:02d}"
    cfg = _config(folder)
    for run in range(rounds):
        proc, out = _spawn(cfg, folder, run)
        try:
            sock = _wait_started(proc, out)
            # Counted from the first working order: during (kill inside the trading window) or
            # after (once trading stopped, while the last orders' fills may still be on their way).
            trade_for = rng.uniform(0.3, 2.0)
            kill_after = rng.uniform(0.0, trade_for + 1.0)
            counts.kill_times.append(kill_after)
            seen = asyncio.run(_trade_until_killed(sock, proc, kill_after, trade_for, rng))
            counts.kills_armed_on_orders += seen.armed_on_working_order
            if run == 0 and seen.armed_on_working_order:
                counts.trials_that_traded += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        assert proc.returncode == -9, f"the engine ended by itself ({proc.returncode}), not by SIGKILL"
        counts.kills += 1
    asyncio.run(_examine(folder / "db" / "onetap.db", counts))
    counts.trials += 1
    return counts


# --------------------------------------------------------------------------- the tests
def _assert_traded_then_safe(counts: CrashCounts, trials: int) -> None:
    """First that the trials did what a crash test needs (orders worked, fills came, kills landed
    on a trading engine), then that the kills broke nothing: a run that never traded proves nothing."""
    assert counts.trials == trials
    assert counts.kills == trials * ROUNDS
    assert counts.trials_that_traded == trials, counts.line()
    assert counts.kills_armed_on_orders >= trials, counts.line()
    assert counts.orders_accepted > 0, counts.line()
    assert counts.fills > 0, counts.line()
    assert counts.duplicates == 0 and counts.lost_fills == 0, counts.line()


def test_crash_safety_quick(tmp_path: Path) -> None:
    counts = run_crash_trials(tmp_path, QUICK_TRIALS)
    print(counts.line())
    _assert_traded_then_safe(counts, QUICK_TRIALS)


@pytest.mark.slow
def test_crash_safety_fifty_trials(tmp_path: Path) -> None:
    counts = run_crash_trials(tmp_path, SLOW_TRIALS, seed=SEED + 1)
    print(counts.line())
    _assert_traded_then_safe(counts, SLOW_TRIALS)
