"""The live-trading gate refuses every combination of flag, port and account that disagrees."""

from __future__ import annotations

import pytest

from engine.brokers.ibkr.gate import LiveGateError, acknowledged, check_settings, choose_account
from engine.config import IbkrSettings


def settings(**kw: object) -> IbkrSettings:
    return IbkrSettings.model_validate(kw)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"live": True, "port": 7497, "account": "U1234567"}, "paper-trading port"),
        ({"live": True, "port": 4002, "account": "U1234567"}, "paper-trading port"),
        ({"live": True, "port": 7496}, "needs the live account id"),
        ({"live": True, "port": 7496, "account": "DU1234567"}, "a paper account"),
        ({"port": 7496}, "live-trading port"),
        ({"port": 4001}, "live-trading port"),
        ({"port": 7497, "account": "U1234567"}, "not a paper account"),
    ],
)
def test_mismatched_flag_port_and_account_refuse_to_start(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(LiveGateError, match=needle):
        check_settings(settings(**kw))


@pytest.mark.parametrize(
    "kw",
    [
        {"port": 7497},
        {"port": 4002, "account": "DU1234567"},
        {"port": 7496, "live": True, "account": "U1234567"},
        {"port": 4001, "live": True, "account": "U7654321"},
        {"port": 7000},  # a custom port: the account check after connecting decides
    ],
)
def test_agreeing_settings_pass(kw: dict[str, object]) -> None:
    assert check_settings(settings(**kw)) is None


def test_the_account_must_be_one_ibkr_manages() -> None:
    with pytest.raises(LiveGateError, match="not managed by this login"):
        choose_account(settings(account="DU999"), ["DU123", "DU456"])
    with pytest.raises(LiveGateError, match="several accounts"):
        choose_account(settings(), ["DU123", "DU456"])
    with pytest.raises(LiveGateError, match="no managed accounts"):
        choose_account(settings(), [])
    assert choose_account(settings(), ["DU123"]) == "DU123"
    assert choose_account(settings(account="DU456"), ["DU123", "DU456"]) == "DU456"


def test_a_live_account_without_live_and_a_paper_account_with_it_are_refused() -> None:
    with pytest.raises(LiveGateError, match="live account but --live was not given"):
        choose_account(settings(port=7000), ["U1234567"])
    with pytest.raises(LiveGateError, match="is a paper account"):
        choose_account(settings(port=7000, live=True, account="DU1"), ["DU1"])
    assert choose_account(settings(port=7496, live=True, account="U1"), ["U1", "U2"]) == "U1"


def test_acknowledgement_is_the_exact_account_id() -> None:
    s = settings(port=7496, live=True, account="U1234567")
    assert acknowledged(s, "U1234567", " U1234567 ")
    assert not acknowledged(s, "U1234567", "U123456")
    assert not acknowledged(s, "", "")
