"""The one copy of two money rules: the commission schedule and the average-cost position."""

from __future__ import annotations

import random

import pytest

from engine.brokers.tws_sim.commission import execution, order_total
from engine.model import apply_to_position
from engine.model.positions import QUANTITY_EPS
from tests.defaults import commissions


def test_shares_commission_minimum_on_first_fill_cap_and_pct() -> None:
    s = commissions()
    assert s.shares(100, 5_000.0) == 1.0  # 0.50 per share -> the $1 minimum
    assert s.shares(100, 5_000.0, first=False) == pytest.approx(0.50)  # a later fill: no minimum
    assert s.shares(10, 10.0) == pytest.approx(0.10)  # the minimum capped at 1% of the value
    assert s.shares(10, 0.0) == 1.0  # no value to cap by: the minimum stands
    assert commissions(pct=0.001).shares(1_000, 50_000.0) == pytest.approx(5.0 + 50.0)
    assert s.contracts(1) == 1.0 and s.contracts(10) == pytest.approx(6.5)
    assert s.contracts(1, first=False) == pytest.approx(0.65)
    assert s.option_order(0) == 0.0 and s.commission(0, 50.0) == 0.0


def test_the_simulator_bills_the_same_schedule_split_over_executions() -> None:
    s = commissions()
    assert order_total(s, "STK", 1_000, 100_000.0) == pytest.approx(s.commission(1_000, 100.0))
    assert order_total(s, "OPT", 3, 300.0) == pytest.approx(s.contracts(3))
    first = execution(s, "STK", 0, 0.0, 100, 10_000.0)
    second = execution(s, "STK", 100, 10_000.0, 900, 90_000.0)
    assert first == 1.0 and first + second == pytest.approx(s.commission(1_000, 100.0))


def test_a_bad_schedule_names_the_field() -> None:
    with pytest.raises(ValueError, match="per_contract must be a finite number >= 0"):
        commissions(per_contract=float("nan"))


def test_average_cost_adds_reduces_flips_and_flattens() -> None:
    assert apply_to_position(0.0, 0.0, 100, 10.0) == (100, 10.0, 0.0)
    assert apply_to_position(100, 10.0, 100, 20.0) == (200, 15.0, 0.0)  # averaged in
    assert apply_to_position(200, 15.0, -50, 30.0) == (150, 15.0, 50)  # a reduction keeps the cost
    assert apply_to_position(150, 15.0, -200, 30.0) == (-50, 30.0, 150)  # through zero: the fill price
    assert apply_to_position(-50, 30.0, 50, 25.0) == (0.0, 0.0, 50)  # flat: no cost kept
    assert apply_to_position(-50, 30.0, -50, 20.0) == (-100, 25.0, 0.0)  # a short adds too


def test_dust_left_by_partial_fills_is_flat() -> None:
    qty = 0.0
    for _ in range(10):
        qty, cost, _closed = apply_to_position(qty, 10.0 if qty else 0.0, 0.1, 10.0)
    assert qty == pytest.approx(1.0) and qty != 1.0  # ten tenths do not sum to exactly one
    after = apply_to_position(qty, cost, -1.0, 12.0)
    assert after.quantity == 0.0 and after.avg_cost == 0.0 and after.closed == pytest.approx(1.0)
    assert apply_to_position(QUANTITY_EPS / 2, 10.0, 5, 11.0).avg_cost == pytest.approx(11.0)


def test_random_fills_conserve_quantity_and_close_at_most_what_was_held() -> None:
    rng = random.Random(7)
    qty, cost, steps, flips = 0.0, 0.0, 0, 0
    for _ in range(500):
        signed = rng.choice((-1, 1)) * rng.randint(1, 300)
        price = rng.uniform(50, 150)
        change = apply_to_position(qty, cost, signed, price)
        assert change.quantity == pytest.approx(qty + signed)
        assert change.closed <= abs(qty) + QUANTITY_EPS
        if qty and change.quantity and (qty > 0) != (change.quantity > 0):
            flips += 1
            assert change.avg_cost == price
        qty, cost = change.quantity, change.avg_cost
        steps += 1
    assert steps == 500 and flips > 0  # the loop went through zero at least once
