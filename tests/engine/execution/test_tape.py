"""The algos' tape (``engine.execution.tape``) kept from whole steps reads exactly as the rule it
replaces: per symbol, a quote goes on only if newer than the symbol's last, and what is more than
``span`` older than the symbol's newest is forgotten. Checked against that rule written out (a
deque per symbol) on a seeded mix of whole steps and single quotes, with repeats, quotes that are
not usable, symbols that stop quoting and gaps longer than the span."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.execution.tape import Tape
from engine.model.quote_batch import FIELDS, QuoteBatch

SPAN = timedelta(minutes=30)
T0 = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
NAMES = ("A", "B", "C", "D", "E", "F")


class _Rule:
    """The rule, a deque per symbol (as ``AlgoEngine`` kept it before)."""

    def __init__(self) -> None:
        self.tapes: dict[str, deque[tuple[datetime, float]]] = {}

    def record(self, symbol: str, ts: datetime, size: float) -> None:
        tape = self.tapes.setdefault(symbol, deque())
        if tape and tape[-1][0] >= ts:
            return
        tape.append((ts, size))
        while tape[0][0] < ts - SPAN:
            tape.popleft()

    def volume(self, symbol: str, since: datetime, until: datetime) -> float:
        total = 0.0
        for ts, size in reversed(self.tapes.get(symbol, ())):
            if ts <= since:
                break
            if ts <= until:
                total += size
        return total


@pytest.mark.parametrize("seed", [3, 4])
def test_the_tape_reads_as_the_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tape, rule = Tape(SPAN), _Rule()
    t = T0
    active = list(NAMES)
    for step in range(1500):
        t += timedelta(hours=2) if rng.random() < 0.01 else timedelta(seconds=int(rng.integers(0, 90)))
        if step == 600:
            active = active[:3]  # D, E, F stop quoting: their entries outlive the steps kept
        if rng.random() < 0.25:  # a quote on its own (an algo's start, a live ticker)
            sym = active[int(rng.integers(0, len(active)))]
            ts = t - timedelta(seconds=int(rng.integers(0, 3)))  # now and then one already seen
            size = float(rng.integers(0, 500))
            tape.record(sym, ts, size)
            rule.record(sym, ts, size)
        else:  # a whole step: one time, each symbol once
            picked = tuple(str(s) for s in rng.permutation(active)[: int(rng.integers(1, len(active) + 1))])
            values = np.zeros((len(FIELDS), len(picked)))
            values[5] = rng.uniform(0.0, 300.0, len(picked)).round(2)
            usable = rng.random(len(picked)) > 0.1
            batch = QuoteBatch(picked, t, values)
            tape.record_step(batch, usable, values[5].tolist())
            for sym, size, ok in zip(picked, values[5].tolist(), usable.tolist(), strict=True):
                if ok:
                    rule.record(sym, t, size)
        if step % 7 == 0:
            for sym in NAMES:
                assert tape.entries(sym) == list(rule.tapes.get(sym, ()))
                since = t - timedelta(seconds=int(rng.integers(0, 3000)))
                assert tape.volume(sym, since, t) == rule.volume(sym, since, t)
    assert sum(len(v) for v in rule.tapes.values()) > 100, "the tapes must hold something to compare"
