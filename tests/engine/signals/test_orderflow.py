"""Order-flow features on hand-worked sequences: every expected value is worked out in the docstring.

The incremental tracker is then checked against the pure functions on a long random sequence,
so the live figures and the research figures are the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.signals import orderflow as of

# (bid, bid_size, ask, ask_size): the quote sequence most tests below share.
QUOTES = [
    (10.00, 100.0, 10.02, 200.0),
    (10.00, 150.0, 10.02, 200.0),
    (10.01, 80.0, 10.02, 120.0),
    (10.00, 300.0, 10.01, 50.0),
    (10.00, 300.0, 10.03, 70.0),
]


def _columns() -> tuple[list[float], list[float], list[float], list[float]]:
    b, qb, a, qa = (list(c) for c in zip(*QUOTES, strict=True))
    return b, qb, a, qa


def test_ofi_increments_by_hand() -> None:
    """e_n = 1{b>=pb} qb - 1{b<=pb} pqb - 1{a<=pa} qa + 1{a>=pa} pqa.

    n=1: bid unchanged: +150 - 100; ask unchanged: -200 + 200          ->  +50
    n=2: bid up (10.01): +80 - 0; ask unchanged: -120 + 200            -> +160
    n=3: bid down (10.00): 0 - 80; ask down (10.01): -50 + 0           -> -130
    n=4: bid unchanged: +300 - 300; ask up (10.03): 0 + 50             ->  +50
    e_0 = 0, and the OFI of the whole sequence is 50 + 160 - 130 + 50 = 130.
    """
    b, qb, a, qa = _columns()
    assert of.ofi_increments(b, qb, a, qa).tolist() == [0.0, 50.0, 160.0, -130.0, 50.0]
    assert of.ofi(b, qb, a, qa) == 130.0


def test_quote_imbalance_by_hand() -> None:
    """(bid_size - ask_size) / (bid_size + ask_size):
    100/200 -> -100/300 = -1/3; 150/200 -> -1/7; 80/120 -> -40/200 = -0.2; 300/50 -> 5/7;
    300/70 -> 23/37; and 0/0 is NaN (no information, not a balanced book)."""
    _, qb, _, qa = _columns()
    got = of.quote_imbalance([*qb, 0.0], [*qa, 0.0])
    assert got[:5] == pytest.approx([-1 / 3, -1 / 7, -0.2, 5 / 7, 23 / 37], rel=1e-15)
    assert math.isnan(got[5])
    assert of.imbalance(3.0, 1.0) == 0.5


def test_tick_rule_by_hand() -> None:
    """Prices 10, 10, 10.01, 10.01, 10.00, 10.00, 10.02:
    the first two unknown (no move yet) -> 0, 0; up -> +1; zero tick keeps +1; down -> -1;
    zero tick keeps -1; up -> +1."""
    signs = of.tick_rule([10.0, 10.0, 10.01, 10.01, 10.00, 10.00, 10.02])
    assert signs.tolist() == [0, 0, 1, 1, -1, -1, 1]


def test_lee_ready_by_hand() -> None:
    """Trades against the prevailing quote's midpoint:
    10.02 vs 10.00/10.02 (mid 10.01): above -> +1
    10.00 vs 10.00/10.02: below -> -1
    10.01 at the mid: tick rule, up from 10.00 -> +1
    10.01 at the mid again: tick rule, zero tick keeps +1
    10.00 vs 10.00/10.01 (mid 10.005): below -> -1
    1.1001 vs 1.10005/1.10015 (FX, mid 1.1001 in binary floats): at the mid, tick rule; the
    price is far below the previous trade's 10.00 -> -1."""
    prices = [10.02, 10.00, 10.01, 10.01, 10.00, 1.1001]
    bids = [10.00, 10.00, 10.00, 10.00, 10.00, 1.10005]
    asks = [10.02, 10.02, 10.02, 10.02, 10.01, 1.10015]
    assert of.lee_ready(prices, bids, asks).tolist() == [1, -1, 1, 1, -1, -1]


def test_depth_imbalance_by_hand() -> None:
    """Bids 300, 200, 100 and asks 100, 100, 400 (best first):
    2 levels: (500 - 200) / 700 = 3/7;  3 levels: (600 - 600) / 1200 = 0;
    3 levels with decay 0.5: bids 300 + 100 + 25 = 425, asks 100 + 50 + 100 = 250 -> 175/675 = 7/27;
    an empty book is NaN."""
    bids, asks = [300.0, 200.0, 100.0], [100.0, 100.0, 400.0]
    assert of.depth_imbalance(bids, asks, levels=2) == pytest.approx(3 / 7, rel=1e-15)
    assert of.depth_imbalance(bids, asks, levels=3) == 0.0
    assert of.depth_imbalance(bids, asks, levels=3, decay=0.5) == pytest.approx(7 / 27, rel=1e-15)
    assert math.isnan(of.depth_imbalance([], []))


def test_spreads_by_hand() -> None:
    """Effective 2 s (p - m_t), realized 2 s (p - m_t+h):
    buy at 10.02, mid 10.01 then 10.03: effective +0.02, realized 2 (10.02 - 10.03) = -0.02;
    sell at 10.00, mid 10.01 then 10.02: effective +0.02, realized -2 (10.00 - 10.02) = +0.04;
    an unsigned trade has no spread (NaN)."""
    eff = of.effective_spread([10.02, 10.00, 10.0], [1, -1, 0], [10.01, 10.01, 10.0])
    real = of.realized_spread([10.02, 10.00, 10.0], [1, -1, 0], [10.03, 10.02, 10.0])
    assert eff[:2] == pytest.approx([0.02, 0.02], abs=1e-12)
    assert real[:2] == pytest.approx([-0.02, 0.04], abs=1e-12)
    assert math.isnan(eff[2]) and math.isnan(real[2])


def test_realized_volatility_by_hand() -> None:
    """Mids 100, 101, 100, 100: log returns ln 1.01, -ln 1.01, 0.
    All three: sqrt(2 (ln 1.01)^2) = sqrt(2) ln 1.01; the last two: ln 1.01; rolling over 2:
    NaN, NaN, sqrt(2) ln 1.01, ln 1.01."""
    r = math.log(101 / 100)
    mids = [100.0, 101.0, 100.0, 100.0]
    assert of.realized_volatility(mids) == pytest.approx(math.sqrt(2) * r, rel=1e-12)
    assert of.realized_volatility(mids, window=2) == pytest.approx(r, rel=1e-12)
    rolling = of.rolling_realized_volatility(mids, 2)
    assert np.isnan(rolling[:2]).all()
    assert rolling[2:] == pytest.approx([math.sqrt(2) * r, r], rel=1e-12)
    assert math.isnan(of.realized_volatility(mids, window=5))


def test_tracker_by_hand() -> None:
    """Window 3 updates, realized spread 1 update after the trade's quote.

    u1 10.00/10.02 100x200, volume 0: no trade; OFI e=0.
    u2 10.00/10.02 150x200, volume 300: a trade of 300 at 10.02 against the prevailing u1
       (mid 10.01): above -> buy; e=+50.
    u3 10.01/10.02 80x120: no trade (volume unchanged); e=+160; the u2 buy's horizon ends:
       realized 2 (10.02 - 10.015) = 0.01.
    u4 10.00/10.01 300x50, volume 500: a trade of 200 at 10.00 against u3 (mid 10.015): sell;
       e=-130.
    u5 10.00/10.03 300x70: e=+50; the sell's horizon ends: realized -2 (10.00 - 10.015) = 0.03.
    After u5: OFI over the last 3 updates 160 - 130 + 50 = 80; quote imbalance 230/370 = 23/37;
    last sign -1; signed volume over u3..u5 = -200; mean realized spread (0.01 + 0.03) / 2 = 0.02;
    realized vol over the last 3 mid returns (10.01 -> 10.015 -> 10.005 -> 10.015).
    """
    t = of.OrderFlowTracker(window=3, horizon=1)
    t.on_quote(10.00, 10.02, 100, 200, last=10.01, volume=0)
    t.on_quote(10.00, 10.02, 150, 200, last=10.02, volume=300)
    after_trade = t.figures()
    assert (after_trade.last_sign, after_trade.signed_volume, after_trade.ofi) == (1, 300.0, 50.0)
    t.on_quote(10.01, 10.02, 80, 120, last=10.02, volume=300)
    t.on_quote(10.00, 10.01, 300, 50, last=10.00, volume=500)
    t.on_quote(10.00, 10.03, 300, 70, last=10.00, volume=500)
    f = t.figures()
    assert f.updates == 5
    assert f.ofi == 80.0
    assert f.quote_imbalance == pytest.approx(23 / 37, rel=1e-15)
    assert f.last_sign == -1
    assert f.signed_volume == -200.0
    assert f.realized_spread == pytest.approx(0.02, abs=1e-12)
    rets = [math.log(10.015 / 10.01), math.log(10.005 / 10.015), math.log(10.015 / 10.005)]
    assert f.realized_vol == pytest.approx(math.sqrt(sum(r * r for r in rets)), rel=1e-9)
    assert math.isnan(f.depth_imbalance)
    t.on_depth([300, 200], [100, 100])
    assert t.figures().depth_imbalance == pytest.approx(3 / 7, rel=1e-15)


def test_tracker_agrees_with_the_pure_functions() -> None:
    """400 random quotes on a tick grid: the tracker's window figures equal the functions' own."""
    rng = np.random.default_rng(7)
    n, w = 400, 25
    bid = 100 + 0.01 * np.cumsum(rng.integers(-1, 2, n))
    ask = bid + 0.01 * rng.integers(1, 4, n)
    qb = 100.0 * rng.integers(0, 9, n)
    qa = 100.0 * rng.integers(0, 9, n)
    t = of.OrderFlowTracker(window=w, horizon=3)
    for i in range(n):
        t.on_quote(float(bid[i]), float(ask[i]), float(qb[i]), float(qa[i]))
    f = t.figures()
    assert f.ofi == pytest.approx(float(np.sum(of.ofi_increments(bid, qb, ask, qa)[-w:])), abs=1e-9)
    mids = (bid + ask) / 2
    assert f.realized_vol == pytest.approx(of.realized_volatility(mids, window=w), rel=1e-12)
    expected_qi = of.quote_imbalance(qb[-1:], qa[-1:])[0]
    assert f.quote_imbalance == expected_qi or (math.isnan(f.quote_imbalance) and math.isnan(expected_qi))


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: of.ofi_increments([1.0, 2.0], [1.0], [1.1, 2.1], [1.0, 1.0]), "different lengths"),
        (lambda: of.ofi_increments([1.0, -2.0], [1.0, 1.0], [1.1, 2.1], [1.0, 1.0]), "bid has a price"),
        (lambda: of.quote_imbalance([1.0, -1.0], [1.0, 1.0]), "bid_size has a negative size at index 1"),
        (lambda: of.tick_rule([1.0, math.nan]), "prices has a missing"),
        (lambda: of.lee_ready([1.0], [1.2], [1.1]), "crossed quote"),
        (lambda: of.depth_imbalance([1.0], [1.0], levels=0), "window must be a positive"),
        (lambda: of.depth_imbalance([1.0], [1.0], decay=0.0), "decay must be in"),
        (lambda: of.realized_spread([1.0], [2], [1.0]), "signs must be"),
        (lambda: of.OrderFlowTracker().on_quote(10.0, 9.0, 1, 1), "crossed quote"),
        (lambda: of.OrderFlowTracker().on_quote(0.0, 9.0, 1, 1), "positive bid and ask"),
        (lambda: of.OrderFlowTracker(window=0), "window must be"),
    ],
)
def test_bad_input_is_named(call: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        call()  # type: ignore[operator]


def test_tracker_counts_a_new_session_s_volume_from_zero() -> None:
    """Cumulative volume 500 then 100 (a new session began): the second quote traded 100, not -400;
    a feed without volume reports its trade through last_size (40 at 10.00, below the prevailing
    mid 10.01: a sell of 40)."""
    t = of.OrderFlowTracker(window=10)
    t.on_quote(10.00, 10.02, 100, 100, last=10.02, volume=500)
    t.on_quote(10.00, 10.02, 100, 100, last=10.02, volume=100)
    assert t.figures().signed_volume == 600.0  # both buys at the ask: 500 + 100
    plain = of.OrderFlowTracker(window=10)
    plain.on_quote(10.00, 10.02, 100, 100)
    plain.on_quote(10.00, 10.02, 100, 100, last=10.00, last_size=40)
    assert (plain.figures().last_sign, plain.figures().signed_volume) == (-1, -40.0)
