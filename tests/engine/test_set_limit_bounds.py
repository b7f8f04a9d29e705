"""SetLimit through the engine's command path: only finite values within each limit's range pass.

Real parts: the engine on the shipped data, the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

import math

import pytest

from engine.actor import Actor
from engine.config import risk_limit_ranges
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import SetLimit

OPERATOR = Actor("alice", CommandSource.SOCKET)


async def test_a_limit_within_its_range_is_accepted(engine: Engine) -> None:
    done = await engine.handle(SetLimit("max_order_value", 1e9), OPERATOR)
    assert done.ok, done.message
    assert engine.risk.limit_values()["max_order_value"] == 1e9


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("max_order_value", math.inf, "max_order_value must be a finite number, got inf"),
        ("max_order_value", -math.inf, "max_order_value must be a finite number, got -inf"),
        ("max_order_value", math.nan, "max_order_value must be a finite number, got nan"),
        ("max_orders_per_day", math.nan, "max_orders_per_day must be a finite number, got nan"),
        ("max_orders_per_day", math.inf, "max_orders_per_day must be a finite number, got inf"),
        ("market_hours_only", math.nan, "market_hours_only must be a finite number, got nan"),
        ("market_hours_only", 0.5, "market_hours_only takes 0 (off) or 1 (on), got 0.5"),
        ("max_orders_per_day", 2.5, "max_orders_per_day takes a whole number, got 2.5"),
        (
            "max_order_value",
            1e10,
            "max_order_value = 1e+10: Input should be less than or equal to 1000000000 "
            "(more than 0, at most 1,000,000,000)",
        ),
        (
            "max_orders_per_day",
            1e300,
            "max_orders_per_day = 1e+300: Input should be less than or equal to 1000000 "
            "(at least 1, at most 1,000,000)",
        ),
    ],
)
async def test_an_infinite_nan_or_out_of_range_limit_is_refused_naming_it(
    engine: Engine, name: str, value: float, words: str
) -> None:
    before = engine.risk.limit_values()
    refused = await engine.handle(SetLimit(name, value), OPERATOR)
    assert not refused.ok and refused.code == "BAD_LIMIT"
    assert refused.message == words
    assert engine.risk.limit_values() == before
    assert name in risk_limit_ranges() or name == "market_hours_only"
