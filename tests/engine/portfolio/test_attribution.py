"""P&L attribution (hand-worked and a property against an independent cash + marks count) and Brinson."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model.enums import Side
from engine.model.lots import ActionType, CorporateAction, TaggedFill
from engine.model.options import contract_multiplier
from engine.model.orders import Fill
from engine.portfolio.attribution import (
    BrinsonResult,
    attribute_pnl,
    brinson_fachler,
    brinson_linked,
)

OPTION = "AAA   240119C00010000"


def tagged(
    exec_id: str,
    symbol: str,
    side: Side,
    qty: float,
    price: float,
    day: date,
    commission: float = 0.0,
    strategy: str = "",
    seconds: int = 0,
) -> TaggedFill:
    ts = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    return TaggedFill(
        Fill(exec_id, f"c-{exec_id}", symbol, side, qty, price, commission, ts), strategy=strategy
    )


def closes_frame(rows: dict[date, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict({pd.Timestamp(d): v for d, v in rows.items()}, orient="index").sort_index()


def test_hand_worked_attribution() -> None:
    fills = [
        # before the period: mom buys 100 AAA at 10, commission 1 (basis 10.01)
        tagged("B1", "AAA", Side.BUY, 100, 10.0, date(2024, 1, 2), 1.0, "mom"),
        # in the period: mom sells 40 AAA at 11 (commission 1); val buys 50 BBB at 20 (commission 2)
        tagged("S1", "AAA", Side.SELL, 40, 11.0, date(2024, 1, 3), 1.0, "mom"),
        tagged("B2", "BBB", Side.BUY, 50, 20.0, date(2024, 1, 3), 2.0, "val"),
    ]
    closes = closes_frame(
        {
            date(2024, 1, 2): {"AAA": 10.5, "BBB": 20.0},
            date(2024, 1, 3): {"AAA": 11.0, "BBB": 20.0},
            date(2024, 1, 4): {"AAA": 11.5, "BBB": 19.5},
            date(2024, 1, 5): {"AAA": 12.0, "BBB": 19.0},
        }
    )
    dividend = CorporateAction("BBB", ActionType.DIVIDEND, date(2024, 1, 4), 0.2)
    result = attribute_pnl(
        fills,
        closes,
        date(2024, 1, 3),
        date(2024, 1, 5),
        sectors={"AAA": "Tech", "BBB": "Energy"},
        actions=[dividend],
        start_equity=10_000.0,
    )
    mom = result.by_strategy["mom"]
    # realized before costs: 40 x (11 - 10) = 40; open price gain 100 x 0.5 = 50 at the start,
    # 60 x (12 - 10) = 120 at the end: +70; commission paid in the period: 1 -> 40 + 70 - 1 = 109.
    # Cross-check: 1,050 held at the start; 60 x 12 = 720 held + 440 - 1 cash at the end: 1,159.
    assert (mom.realized, mom.unrealized_change, mom.commissions) == pytest.approx((40.0, 70.0, 1.0))
    assert mom.total == pytest.approx(109.0)
    val = result.by_strategy["val"]
    # 50 x (19 - 20) = -50, dividend 50 x 0.20 = 10, commission 2 -> -42
    assert (val.realized, val.unrealized_change, val.dividends, val.commissions) == pytest.approx(
        (0.0, -50.0, 10.0, 2.0)
    )
    assert val.total == pytest.approx(-42.0)
    assert result.total == pytest.approx(67.0)
    assert result.by_sector["Tech"].total == pytest.approx(109.0)
    assert result.by_sector["Energy"].total == pytest.approx(-42.0)
    assert result.by_symbol["AAA"].contribution == pytest.approx(0.0109)  # 109 / 10,000
    assert result.total_return == pytest.approx(0.0067)
    for row in result.rows.values():
        assert row.total == pytest.approx(
            row.realized + row.unrealized_change + row.dividends - row.commissions
        )


def test_missing_close_for_a_held_symbol_is_an_error() -> None:
    fills = [tagged("B1", "AAA", Side.BUY, 1, 10.0, date(2024, 1, 2))]
    closes = closes_frame({date(2024, 1, 3): {"BBB": 1.0}})
    with pytest.raises(ValueError, match="no close for AAA on or before 2024-01-02"):
        attribute_pnl(fills, closes, date(2024, 1, 3), date(2024, 1, 3))
    with pytest.raises(ValueError, match="ends"):
        attribute_pnl(fills, closes, date(2024, 1, 3), date(2024, 1, 2))


SYMBOLS = ("AAA", "BBB", OPTION)
SECTORS = {"AAA": "Tech", "BBB": "Energy"}
DAYS = [date(2024, 3, 1) + timedelta(days=i) for i in range(8)]

fill_draw = st.tuples(
    st.integers(0, len(DAYS) - 1),
    st.sampled_from(SYMBOLS),
    st.sampled_from((Side.BUY, Side.SELL)),
    st.integers(1, 60),
    st.floats(1.0, 50.0),
    st.floats(0.0, 3.0),
    st.sampled_from(("mom", "val", "")),
)


@settings(max_examples=60, deadline=None)
@given(
    draws=st.lists(fill_draw, min_size=1, max_size=25),
    marks=st.lists(
        st.floats(1.0, 50.0), min_size=len(DAYS) * len(SYMBOLS), max_size=len(DAYS) * len(SYMBOLS)
    ),
    window=st.tuples(st.integers(1, len(DAYS) - 1), st.integers(0, len(DAYS) - 1)),
)
def test_attribution_sums_to_the_equity_change(
    draws: list[tuple[int, str, Side, int, float, float, str]], marks: list[float], window: tuple[int, int]
) -> None:
    fills = [
        tagged(f"F{i}", sym, side, qty, price, DAYS[d], comm, strat, seconds=i)
        for i, (d, sym, side, qty, price, comm, strat) in enumerate(draws)
    ]
    closes = closes_frame(
        {
            day: {sym: marks[i * len(SYMBOLS) + j] for j, sym in enumerate(SYMBOLS)}
            for i, day in enumerate(DAYS)
        }
    )
    start = DAYS[window[0]]
    end = DAYS[max(window)]
    result = attribute_pnl(fills, closes, start, end, sectors=SECTORS, start_equity=1e5)

    # independent count: cash moved by the period's fills + net holdings revalued end vs start
    def held(through: date) -> dict[str, float]:
        out = dict.fromkeys(SYMBOLS, 0.0)
        for f in fills:
            if f.day <= through:
                out[f.fill.symbol] += f.fill.side.sign * f.fill.quantity
        return out

    before = start - timedelta(days=1)
    q0, q1 = held(before), held(end)
    c0 = closes.loc[: pd.Timestamp(before)]
    c1 = closes.loc[: pd.Timestamp(end)].iloc[-1]
    cash = sum(
        -f.fill.side.sign * f.fill.quantity * f.fill.price * contract_multiplier(f.fill.symbol)
        - f.fill.commission
        for f in fills
        if start <= f.day <= end
    )
    value0 = sum(q0[s] * float(c0.iloc[-1][s]) * contract_multiplier(s) for s in SYMBOLS) if len(c0) else 0.0
    value1 = sum(q1[s] * float(c1[s]) * contract_multiplier(s) for s in SYMBOLS)
    expected = cash + value1 - value0
    scale = 1.0 + sum(abs(f.fill.quantity * f.fill.price) * 100 for f in fills)
    assert result.total == pytest.approx(expected, abs=1e-9 * scale)
    for grouping in (result.by_strategy, result.by_symbol, result.by_sector, result.by_account):
        assert math.fsum(row.total for row in grouping.values()) == pytest.approx(
            result.total, abs=1e-9 * scale
        )
        assert math.fsum(row.contribution or 0.0 for row in grouping.values()) == pytest.approx(
            result.total / 1e5, abs=1e-9 * scale
        )
    assert set(result.by_sector) <= {"Tech", "Energy"}  # the option takes its underlying's sector


# ---------------------------------------------------------------------- Brinson

# Three-sector example of Bacon, Practical Portfolio Performance Measurement and Attribution, ch. 5:
#            portfolio w / r     benchmark w / r
# UK          40% / 20%           40% / 10%
# Japan       30% / -5%           20% / -4%
# US          30% /  6%           40% /  8%
# Rp = 8 - 1.5 + 1.8 = 8.3%; Rb = 4 - 0.8 + 3.2 = 6.4%; active 1.9%.
WP = {"UK": 0.4, "Japan": 0.3, "US": 0.3}
RP = {"UK": 0.20, "Japan": -0.05, "US": 0.06}
WB = {"UK": 0.4, "Japan": 0.2, "US": 0.4}
RB = {"UK": 0.10, "Japan": -0.04, "US": 0.08}


def assert_brinson_identity(result: BrinsonResult) -> None:
    effects = result.allocation + result.selection + result.interaction
    assert effects == pytest.approx(result.active_return, abs=1e-12)


def test_brinson_fachler_textbook_example() -> None:
    result = brinson_fachler(WP, RP, WB, RB)
    assert result.portfolio_return == pytest.approx(0.083)
    assert result.benchmark_return == pytest.approx(0.064)
    # allocation (wp - wb)(rb - Rb): UK 0; Japan 0.1 x (-4% - 6.4%) = -1.04%; US -0.1 x (8% - 6.4%) = -0.16%
    assert result.sectors["Japan"].allocation == pytest.approx(-0.0104)
    assert result.sectors["US"].allocation == pytest.approx(-0.0016)
    assert result.allocation == pytest.approx(-0.012)
    # selection wb (rp - rb): UK 0.4 x 10% = 4%; Japan 0.2 x -1% = -0.2%; US 0.4 x -2% = -0.8% -> 3.0%
    assert result.selection == pytest.approx(0.030)
    # interaction (wp - wb)(rp - rb): Japan 0.1 x -1% = -0.1%; US -0.1 x -2% = +0.2% -> 0.1%
    assert result.interaction == pytest.approx(0.001)
    assert_brinson_identity(result)  # -1.2% + 3.0% + 0.1% = 1.9%


def test_brinson_identity_on_random_weights() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        sectors = [f"S{i}" for i in range(6)]
        wp = rng.dirichlet(np.ones(6))
        wb = rng.dirichlet(np.ones(6))
        wp[rng.integers(6)] = 0.0  # a sector the portfolio does not hold
        wp = wp / wp.sum()
        rp = {s: float(r) for s, r in zip(sectors, rng.normal(0.01, 0.05, 6), strict=True)}
        rb = {s: float(r) for s, r in zip(sectors, rng.normal(0.01, 0.05, 6), strict=True)}
        result = brinson_fachler(
            dict(zip(sectors, map(float, wp), strict=True)),
            rp,
            dict(zip(sectors, map(float, wb), strict=True)),
            rb,
        )
        assert_brinson_identity(result)


def test_sector_outside_the_benchmark_and_bad_weights() -> None:
    result = brinson_fachler({"A": 0.5, "X": 0.5}, {"A": 0.1, "X": 0.3}, {"A": 1.0}, {"A": 0.05})
    # X takes the benchmark's total return (5%): no allocation, interaction 0.5 x (30% - 5%)
    assert result.sectors["X"].allocation == pytest.approx(0.0)
    assert result.sectors["X"].interaction == pytest.approx(0.125)
    assert_brinson_identity(result)  # Rp = 0.05 + 0.15 = 20%, Rb = 5%
    with pytest.raises(ValueError, match="portfolio weights must sum to 1"):
        brinson_fachler({"A": 0.5}, {"A": 0.1}, {"A": 1.0}, {"A": 0.1})
    with pytest.raises(ValueError, match="benchmark return of sector 'B' is missing"):
        brinson_fachler({"A": 1.0}, {"A": 0.1}, {"A": 0.5, "B": 0.5}, {"A": 0.1})


def test_carino_linking_sums_to_the_compounded_active_return() -> None:
    rng = np.random.default_rng(3)
    days = []
    for _ in range(20):
        rp = {k: float(rng.normal(0.001, 0.02)) for k in WP}
        rb = {k: float(rng.normal(0.001, 0.02)) for k in WB}
        days.append(brinson_fachler(WP, rp, WB, rb))
    linked = brinson_linked(days)
    compounded_p = math.prod(1 + d.portfolio_return for d in days) - 1
    compounded_b = math.prod(1 + d.benchmark_return for d in days) - 1
    assert linked.active_return == pytest.approx(compounded_p - compounded_b)
    assert_brinson_identity(linked)
    # one period links to itself
    (alone,) = [brinson_linked([days[0]])]
    assert alone.allocation == pytest.approx(days[0].allocation)
    assert alone.selection == pytest.approx(days[0].selection)
    # equal returns use the limit 1 / (1 + r)
    flat = brinson_fachler({"A": 1.0}, {"A": 0.01}, {"A": 1.0}, {"A": 0.01})
    assert brinson_linked([flat, flat]).active_return == pytest.approx(0.0)
