"""The template scoreboard by hand, and the drift tests on seeded calibrated and biased sequences."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.model.forecast import ForecastOutcome, OutcomeStatus
from engine.portfolio.scoreboard import (
    drift_crossings,
    hit_test,
    return_test,
    scoreboard,
    template_score,
    wilson,
)

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def _outcome(
    i: int, ret: float, *, conf: float = 0.6, exp: float = 0.01, template: str = "t"
) -> ForecastOutcome:
    """A closed trade on 1,000 of capital returning ``ret`` before costs; entry cost 1.0 + 0.5
    (10 + 5 bps), exit commission 1.0, expected cost 2.0 (20 bps), max risk 20."""
    return ForecastOutcome(
        execution_id=f"X-{i}",
        card_id=f"{template}-AAPL-{i}",
        template=template,
        symbols=("AAPL",),
        status=OutcomeStatus.CLOSED,
        opened_at=T0 + timedelta(days=i),
        closed_at=T0 + timedelta(days=i, hours=1),
        confidence=conf,
        expected_return=exp,
        max_risk=20.0,
        expected_cost=2.0,
        capital=1000.0,
        gross_pnl=ret * 1000.0,
        entry_commission=1.0,
        exit_commission=1.0,
        entry_slippage=0.5,
        exit_slippage=0.0,
    )


def test_a_template_row_by_hand() -> None:
    returns = [0.01, 0.03, -0.01, 0.05]
    outcomes = [
        _outcome(i, r, conf=c) for i, (r, c) in enumerate(zip(returns, [0.5, 0.6, 0.7, 0.6], strict=True))
    ]
    void = replace(_outcome(9, 0.0), status=OutcomeStatus.VOID)
    row = template_score("t", [*outcomes, void], open_trades=2)
    assert (row.n, row.open, row.void, row.hits) == (4, 2, 1, 3)
    assert row.hit_rate == pytest.approx(0.75)
    # Wilson 95% for 3 of 4: (0.3006, 0.9544)
    assert row.hit_low == pytest.approx(0.3006, abs=1e-4)
    assert row.hit_high == pytest.approx(0.9544, abs=1e-4)
    assert row.mean_confidence == pytest.approx(0.6)
    # mean 0.02; sd sqrt(0.002 / 3) = 0.025820; t(0.975, 3) = 3.182446; half = 0.041085
    assert row.mean_return == pytest.approx(0.02)
    assert row.return_low == pytest.approx(0.02 - 0.041085, abs=1e-6)
    assert row.return_high == pytest.approx(0.02 + 0.041085, abs=1e-6)
    assert row.mean_expected_return == pytest.approx(0.01)
    # entry cost 1.5 on 1,000 = 15 bps every time (no spread: the interval collapses on it)
    assert row.cost_bps == pytest.approx(15.0) and row.cost_low == pytest.approx(15.0)
    assert row.expected_cost_bps == pytest.approx(20.0)
    assert row.round_trip_bps == pytest.approx(25.0)
    # the -1% trade lost 10 + 2 commissions = 12 < max risk 20: no breach
    assert row.breaches == 0
    assert row.pnl == pytest.approx(1000 * sum(returns) - 4 * 2.0)
    assert row.hit_test is None and row.return_test is None  # below 20 trades: not tested


def test_the_board_filters_by_close_date_and_lists_templates_with_only_open_trades() -> None:
    outcomes = [
        _outcome(0, 0.01, template="a"),
        _outcome(5, -0.02, template="a"),
        _outcome(1, 0.01, template="b"),
    ]
    board = scoreboard(outcomes, asof=T0, since=T0 + timedelta(days=2), open_trades={"c": 1})
    assert [(r.template, r.n, r.open) for r in board.rows] == [("a", 1, 0), ("c", 0, 1)]
    assert board.rows[0].mean_return == pytest.approx(-0.02) and board.rows[1].hit_rate is None


def test_wilson_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="at least one trade"):
        wilson(0, 0)


def test_hit_test_by_hand() -> None:
    # 10 trades at p = 0.6, 3 wins: sum(y - p) = -3, var = 10 x 0.24 = 2.4, z = -3 / 1.549193
    t = hit_test([True] * 3 + [False] * 7, [0.6] * 10)
    assert t.statistic == pytest.approx(-1.936492, abs=1e-6)
    assert t.p_value == pytest.approx(0.052808, abs=1e-5) and not t.significant
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        hit_test([True], [1.5])


def test_return_test_by_hand() -> None:
    # d = [0.01, 0.02, 0.03] - 0: mean 0.02, sd 0.01, t = 0.02 / (0.01 / sqrt 3) = 3.464102, df 2
    t = return_test([0.01, 0.02, 0.03], [0.0, 0.0, 0.0])
    assert t.statistic == pytest.approx(3.464102, abs=1e-6)
    assert t.p_value == pytest.approx(0.074180, abs=1e-5)


def _sequence(seed: int, n: int, *, hit_bias: float = 0.0, return_bias: float = 0.0) -> list[ForecastOutcome]:
    """n trades whose wins are drawn at the card's confidence (minus ``hit_bias``) and whose
    returns are the expected return (minus ``return_bias``) plus noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.uniform(0.5, 0.7)
        exp = rng.uniform(0.005, 0.02)
        win = rng.random() < p - hit_bias
        ret = abs(rng.gauss(exp - return_bias, 0.03)) * (1 if win else -1)
        out.append(_outcome(i, ret, conf=p, exp=exp))
    return out


def _scored(outcomes: list[ForecastOutcome]) -> tuple[bool, bool]:
    row = template_score("t", outcomes)
    assert row.hit_test is not None and row.return_test is not None
    return row.hit_test.significant, row.return_test.significant


def test_drift_fires_on_a_biased_sequence_and_not_on_a_calibrated_one() -> None:
    hits_biased = _sequence(7, 60, hit_bias=0.3)
    assert _scored(hits_biased)[0], "wins at confidence - 30 points over 60 trades must be found"
    returns_biased = [replace(o, gross_pnl=o.gross_pnl - 30.0) for o in _sequence(8, 60)]
    assert _scored(returns_biased)[1], "3 points less return on every trade must be found"
    calibrated = _sequence(9, 60)
    assert _scored(calibrated) == (False, False)
    assert not template_score("t", calibrated).drifting


def _calibrated_returns(seed: int, n: int) -> list[ForecastOutcome]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.uniform(0.5, 0.7)
        exp = rng.uniform(0.005, 0.02)
        out.append(_outcome(i, rng.gauss(exp, 0.03), conf=p, exp=exp))
    return out


def test_the_tests_keep_their_size_on_calibrated_sequences() -> None:
    """Over 400 seeded calibrated runs of 40 trades each test rejects about 1% of the time."""
    runs = 400
    false_hits = false_returns = 0
    for seed in range(runs):
        rng = random.Random(10_000 + seed)
        probs = [rng.uniform(0.5, 0.7) for _ in range(40)]
        wins = [rng.random() < p for p in probs]
        false_hits += hit_test(wins, probs).significant
        o = _calibrated_returns(seed, 40)
        false_returns += return_test(
            [x.realized_return for x in o], [x.expected_return for x in o]
        ).significant
    assert false_hits / runs <= 0.03 and false_returns / runs <= 0.03


def test_a_drift_is_announced_once_per_crossing() -> None:
    drifting = template_score("t", _sequence(7, 60, hit_bias=0.3))
    calm = template_score("t", _sequence(9, 60))
    crossed, now = drift_crossings([drifting], set())
    assert [r.template for r in crossed] == ["t"] and now == {"t"}
    crossed, now = drift_crossings([drifting], now)  # still drifting: not again
    assert crossed == [] and now == {"t"}
    crossed, now = drift_crossings([], now)  # no row this time: the state is kept
    assert crossed == [] and now == {"t"}
    crossed, now = drift_crossings([calm], now)  # back within: re-armed
    assert crossed == [] and now == set()
    crossed, now = drift_crossings([drifting], now)
    assert [r.template for r in crossed] == ["t"]
