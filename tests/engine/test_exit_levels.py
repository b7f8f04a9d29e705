"""The exit vocabulary's one computation: where a filled entry's protection rests."""

from __future__ import annotations

import pytest

from engine.model import ExitPolicy, Side, StopRule, TimeExit, resolve_levels


def test_atr_stop_and_two_r_target_for_a_long() -> None:
    levels = resolve_levels(ExitPolicy(StopRule.ATR, 2.0, 2.0), Side.BUY, 100.0, atr=1.5, horizon_sessions=5)
    assert levels.side is Side.SELL
    assert levels.stop_price == pytest.approx(97.0)
    assert levels.target_price == pytest.approx(106.0)
    assert levels.horizon_sessions == 5 and levels.time_exit is TimeExit.CLOSE


def test_percent_trailing_stop_for_a_short_with_no_target() -> None:
    policy = ExitPolicy(StopRule.TRAIL_PERCENT, 5.0, None, TimeExit.NEXT_OPEN)
    levels = resolve_levels(policy, Side.SELL, 50.0, atr=None)
    assert levels.side is Side.BUY
    assert levels.stop_price == pytest.approx(52.5)
    assert levels.trail_percent == 5.0 and levels.trail_amount is None
    assert levels.target_price is None


def test_stop_limit_sits_beyond_the_stop() -> None:
    policy = ExitPolicy(StopRule.PERCENT, 10.0, 1.0, stop_limit_bps=50.0)
    levels = resolve_levels(policy, Side.BUY, 200.0, atr=None)
    assert levels.stop_price == pytest.approx(180.0)
    assert levels.stop_limit_price == pytest.approx(179.1)
    assert levels.target_price == pytest.approx(220.0)


@pytest.mark.parametrize(
    ("policy", "atr", "card_stop", "message"),
    [
        (ExitPolicy(StopRule.ATR, 2.0), None, None, "needs a positive ATR"),
        (ExitPolicy(StopRule.PRICE, 0.0), 1.0, None, "card has no stop price"),
        (ExitPolicy(StopRule.PRICE, 0.0), 1.0, 101.0, "not a protective level"),
        (ExitPolicy(StopRule.PERCENT, -1.0), 1.0, None, "stop_value must be positive"),
    ],
    ids=["atr-missing", "price-missing", "price-wrong-side", "negative-value"],
)
def test_a_policy_that_cannot_protect_says_why(
    policy: ExitPolicy, atr: float | None, card_stop: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_levels(policy, Side.BUY, 100.0, atr=atr, card_stop=card_stop)


def test_describe_names_every_part() -> None:
    text = ExitPolicy(StopRule.TRAIL_ATR, 3.0, 1.5, TimeExit.CLOSE).describe()
    assert text == "trailing stop 3 ATR, target 1.5R, exit at the horizon's last close"
