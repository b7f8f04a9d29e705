"""Templates, scan, sizing and the generator on the shipped real data."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import Side, StrategyCard
from engine.strategies.book import Book, Limits
from engine.strategies.generator import Context, GeneratorPolicy, propose
from engine.strategies.scan import Scan, scan
from engine.strategies.sizing import SizingPolicy, size_capital
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel
from engine.strategies.templates.rotation import capped_inverse_vol

ASOF = date(2012, 6, 1)


@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64(ASOF)]) for s, f in bars.items()}


@pytest.fixture(scope="module")
def found(panel: Panel) -> Scan:
    return scan(panel, list(TEMPLATES.values()))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_template_never_looks_ahead(panel: Panel, name: str) -> None:
    """Setups built on a shorter history agree bar for bar with the full one where both exist."""
    template = TEMPLATES[name]
    cut = {
        s: Bars(s, b.dates[:-40], b.open[:-40], b.high[:-40], b.low[:-40], b.close[:-40], b.volume[:-40])
        for s, b in panel.items()
    }
    full = {s.key: s for s in template.build(panel, template.params())}
    short = {s.key: s for s in template.build(cut, template.params())}
    assert short, f"{name} built no setup"
    for key, s in short.items():
        if key not in full:
            continue  # pairs picks candidates on the last year: a different set is allowed
        f = full[key]
        n = len(s) - (1 if name == "pairs" else 0)  # pairs gates only its last bar
        offset = len(f) - 40 - len(s)
        if name == "rotation":  # rebalance bars are counted back from the as-of session
            continue
        assert offset == 0
        np.testing.assert_array_equal(s.entry[:n], f.entry[:n], err_msg=key)
        np.testing.assert_allclose(s.score[:n], f.score[:n], err_msg=key)


def test_every_template_has_a_track_record_and_calibrated_confidence(found: Scan) -> None:
    assert set(found.records) == set(TEMPLATES)
    for name, record in found.records.items():
        assert record.n > 30, name
        assert 0.0 < record.win_rate < 1.0
        assert record.holdout is not None and record.holdout.n_test > 0
    for cand in found.candidates:
        assert 0.0 < cand.confidence < 1.0
        assert math.isfinite(cand.expected)


def test_past_trades_end_before_the_as_of_date(panel: Panel) -> None:
    found = scan(panel, list(TEMPLATES.values()), keep=True)  # every setup and its trades kept
    assert set(found.outcomes) == set(TEMPLATES) and any(found.outcomes.values())
    for name, per_setup in found.outcomes.items():
        for key, outcomes in per_setup.items():
            n_bars = next(len(s) for s in found.setups[name] if s.key == key)
            assert np.all(outcomes.exits <= n_bars - 1)
            assert np.all(outcomes.entries < outcomes.exits)


@given(
    equity=st.floats(1e3, 1e7),
    stop=st.floats(1e-4, 1.0),
    vol=st.floats(1e-3, 3.0),
    kelly=st.floats(-5.0, 50.0),
    limits=st.floats(0.0, 1e8),
    risk=st.floats(1e-4, 0.05),
)
def test_sizing_never_exceeds_the_risk_budget_or_a_limit(
    equity: float, stop: float, vol: float, kelly: float, limits: float, risk: float
) -> None:
    policy = SizingPolicy(risk_per_position=risk, vol_target=0.04, kelly_fraction=0.25, kelly_cap=0.25)
    s = size_capital(
        equity=equity, stop=stop, vol_annual=vol, kelly_full=kelly, by_limits=limits, policy=policy
    )
    assert 0.0 <= s.capital <= limits + 1e-9
    assert s.capital * stop <= risk * equity * (1 + 1e-9)
    assert s.capital * vol <= 0.04 * equity * (1 + 1e-9)
    assert s.capital <= 0.25 * equity * (1 + 1e-9)
    if kelly <= 0:
        assert s.capital == 0.0


@given(st.lists(st.floats(0.05, 1.0), min_size=1, max_size=8))
def test_rotation_weights_are_capped_and_keep_the_cash_buffer(vols: list[float]) -> None:
    w = capped_inverse_vol(np.array(vols), 0.5, 0.95)
    assert np.all(w <= 0.5 * 0.95 + 1e-12)
    assert w.sum() <= 0.95 + 1e-9


def _book(panel: Panel, positions: dict[str, float] | None = None) -> Book:
    prices = {s: float(b.close[-1]) for s, b in panel.items()}
    return Book(
        equity=100_000.0,
        cash=100_000.0 - sum(q * prices[s] for s, q in (positions or {}).items()),
        positions=positions or {},
        prices=prices,
        sectors={"AAPL": "IT", "MSFT": "IT", "GOOG": "IT", "IBM": "IT", "AMZN": "CD"},
        limits=Limits(0.2, 0.3, 25_000.0, 1.0, 0.01),
        adv_shares={s: float(np.mean(b.volume[-20:])) for s, b in panel.items()},
        adv_value={s: float(np.mean(b.volume[-20:] * b.close[-20:])) for s, b in panel.items()},
        returns={s: b.close[-90:] / b.close[-91:-1] - 1.0 for s, b in panel.items()},
    )


def test_shown_cards_pass_every_limit_together(found: Scan, panel: Panel) -> None:
    book = _book(panel, {"IBM": 60.0})
    ctx = Context(datetime(2012, 6, 1, 14, 30, tzinfo=UTC), ASOF, book, GeneratorPolicy(max_cards=12))
    proposal = propose(found, ctx, lambda card: card)
    entries = [c for c in proposal.cards if c.template != "exit"]
    assert [c.template for c in proposal.cards if c.template == "exit"] == ["exit"]  # one close card: IBM
    after = book
    for card in entries:
        assert card.legs and card.max_risk <= 0.01 * book.equity * 1.0001 + card.details.get(
            "expected_cost", 0
        )
        after = after.commit(card.legs)
    it = sum(after.value(s) for s in ("AAPL", "MSFT", "GOOG", "IBM") if after.value(s) > 0)
    assert it <= 0.3 * book.equity * 1.0001
    assert after.cash >= -1e-6
    assert all(v >= 0 for v in proposal.rejected.values())
    scores = [c.score for c in entries]
    assert all(math.isfinite(s) for s in scores)


def test_a_card_carries_the_numbers_behind_it(found: Scan, panel: Panel) -> None:
    ctx = Context(datetime(2012, 6, 1, 14, 30, tzinfo=UTC), ASOF, _book(panel), GeneratorPolicy())
    cards: list[StrategyCard] = list(propose(found, ctx, lambda card: card).cards)
    assert cards, "no card on 2012-06-01"
    card = cards[0]
    for key in (
        "size:capital",
        "size:by_risk",
        "bt:n",
        "bt:win_rate",
        "rank:score",
        "risk:max_loss",
        "score:composite",
    ):
        assert key in card.details, key
    assert any(k.startswith("signal:") for k in card.details)
    assert (
        card.details["size:capital"]
        <= min(card.details[k] for k in ("size:by_risk", "size:by_vol", "size:by_kelly", "size:by_limits"))
        * 1.0001
    )
    assert all(leg.side in (Side.BUY, Side.SELL) for leg in card.legs)


def test_rotation_picks_uptrends_that_do_not_move_together(panel: Panel) -> None:
    template = TEMPLATES["rotation"]
    p = template.params()
    (setup,) = template.build(panel, p)
    closes = setup.close
    rets = closes[1:] / closes[:-1] - 1.0
    for t in np.flatnonzero(setup.entry):
        w = setup.weights[t]
        picked = np.flatnonzero(w > 0)
        assert 1 <= len(picked) <= p["top_n"]
        assert w.sum() <= 1 - p["cash_buffer"] + 1e-9 and w.max() <= p["cap"] * (1 - p["cash_buffer"]) + 1e-9
        window = rets[t - 90 : t]
        for i, j in itertools.combinations(picked, 2):
            assert np.corrcoef(window[:, i], window[:, j])[0, 1] <= p["max_corr"] + 1e-9


def test_a_pair_is_long_one_leg_and_short_the_other(panel: Panel) -> None:
    template = TEMPLATES["pairs"]
    setups = template.build(panel, template.params())
    assert setups
    for setup in setups:
        for t in np.flatnonzero(setup.entry):
            w = setup.weights[t]
            assert w[0] * w[1] < 0  # one leg bought, the other sold
            assert abs(w).sum() == pytest.approx(1.0)


def test_an_option_card_protects_held_shares_with_a_put_and_carries_greeks(panel: Panel) -> None:
    from engine.model.options import OptionContract
    from engine.strategies.templates.options import option_legs, options_setup

    template = TEMPLATES["options"]
    p = template.params()
    put = options_setup(panel["AAPL"], p, "P")
    t = len(put) - 1
    asof = datetime(2012, 6, 1, 14, 30, tzinfo=UTC)
    price = float(panel["AAPL"].close[-1])
    held = option_legs(put, t, 10_000.0, {"AAPL": price}, {"AAPL": 300.0}, asof, True)
    (leg,) = held.legs
    contract = OptionContract.parse(leg.symbol)
    assert (contract.right, leg.side, leg.quantity) == ("P", Side.BUY, 3.0)
    assert contract.strike < price and contract.expiry > ASOF
    assert held.details["greek:delta"] < 300.0  # the put takes delta off the 300 shares
    assert any("Black-Scholes" in note for note in held.notes)
    call = options_setup(panel["AAPL"], p, "C")
    assert option_legs(call, t, 50_000.0, {"AAPL": price}, {}, asof, True).unavailable == "uncovered_call"
    fresh = option_legs(put, t, 120_000.0, {"AAPL": price}, {}, asof, True)
    assert [leg.side for leg in fresh.legs] == [Side.BUY, Side.BUY]
    assert OptionContract.parse(fresh.legs[0].symbol).right == "P"  # the hedge goes first
    assert fresh.legs[1].quantity == 100.0 * fresh.legs[0].quantity
