"""Both brokers implement every member of the ``Broker`` protocol, with the protocol's signatures,
and IBKR's capabilities that belong to a simulated market answer with their documented neutral values."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime
from typing import Any

import pytest

from engine.brokers.base import Broker, BrokerPosition
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.config import IbkrSettings
from engine.model import Order, Quote
from tests.defaults import paper_broker

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
PUT = "AAPL  240315P00100000"


def protocol_members() -> dict[str, Any]:
    """Every member the protocol declares (annotated attributes, properties and methods)."""
    members: dict[str, Any] = dict.fromkeys(Broker.__annotations__)
    for name, value in vars(Broker).items():
        if not name.startswith("_") and (callable(value) or isinstance(value, property)):
            members[name] = value
    return members


def test_the_protocol_names_the_capabilities_the_engine_needs() -> None:
    members = protocol_members()
    wanted = {
        "simulated", "live", "read_only", "remembers", "settled_cash", "acknowledge_live", "adopt_book",
        "option_quote", "option_marks", "set_option_volatility", "on_quote", "on_session_close",
        "set_settlement_hook", "settlement_orders", "global_cancel", "sending_refused", "set_depth_sink",
    }  # fmt: skip
    assert wanted <= set(members), wanted - set(members)


@pytest.mark.parametrize("cls", [PaperBroker, IbkrBroker])
def test_every_protocol_member_is_implemented_with_its_signature(cls: type[Any]) -> None:
    checked = 0
    for name, member in protocol_members().items():
        assert hasattr(cls, name) or name in getattr(cls, "__annotations__", {}), (
            f"{cls.__name__} lacks {name}"
        )
        if not inspect.isfunction(member):
            continue
        impl = getattr(cls, name)
        assert inspect.isfunction(impl), f"{cls.__name__}.{name} is not a method"
        assert inspect.iscoroutinefunction(impl) == inspect.iscoroutinefunction(member), name
        wanted = inspect.signature(member).parameters
        have = inspect.signature(impl).parameters
        for param, spec in wanted.items():
            assert param in have, f"{cls.__name__}.{name} has no parameter {param}"
            assert have[param].kind == spec.kind, f"{cls.__name__}.{name}({param}) is {have[param].kind}"
            assert (have[param].default is inspect.Parameter.empty) == (
                spec.default is inspect.Parameter.empty
            )
        extra = [p for p in have.values() if p.name not in wanted]
        assert all(p.default is not inspect.Parameter.empty for p in extra), f"{cls.__name__}.{name}: {extra}"
        checked += 1
    assert checked >= 20  # the loop compared the methods, not just names


def _as_broker(broker: Broker) -> Broker:
    """mypy checks the structural match here: each class must be assignable to the protocol."""
    return broker


async def test_paper_is_a_simulated_market_with_settled_cash_and_no_live_account() -> None:
    paper = _as_broker(paper_broker(FixedClock(T0), starting_cash=5_000.0))
    assert paper.simulated and not paper.live and not paper.read_only and not paper.remembers
    assert paper.settled_cash() == 5_000.0
    assert paper.acknowledge_live("DU1234567") is False
    paper.adopt_book(3_000.0, [BrokerPosition("AAPL", 10, 90.0)])
    assert paper.settled_cash() == 3_000.0
    assert await paper.positions() == [BrokerPosition("AAPL", 10, 90.0)]
    paper.set_option_volatility("AAPL", 0.3)
    paper.on_quote(Quote("AAPL", T0, 99.99, 100.01, 100.0, 500, 500, 1_000, 10_000))
    quote = paper.option_quote(PUT)
    assert quote is not None and quote.bid < quote.ask


async def test_ibkr_without_a_connection_answers_the_simulated_market_capabilities_neutrally() -> None:
    ibkr = _as_broker(IbkrBroker(IbkrSettings(read_only=True)))
    assert not ibkr.simulated and not ibkr.live and ibkr.read_only and ibkr.remembers
    assert ibkr.settled_cash() is None
    assert ibkr.option_marks() == {} and ibkr.option_quote(PUT) is None
    assert ibkr.settlement_orders() == []
    hooked: list[Order] = []
    ibkr.set_settlement_hook(hooked.append)
    ibkr.set_option_volatility("AAPL", 0.3)
    ibkr.on_quote(Quote("AAPL", T0, 99.99, 100.01, 100.0, 500, 500, 1_000, 10_000))
    ibkr.on_session_close(date(2024, 3, 1), closes={"AAPL": 100.0})
    ibkr.adopt_book(1_000.0, [BrokerPosition("AAPL", 1, 1.0)])
    assert ibkr.option_quote("AAPL") is None and ibkr.settlement_orders() == [] and hooked == []
    assert ibkr.acknowledge_live("U1234567") is True  # not a live account: nothing stands in the way
    assert ibkr.sending_refused().startswith("read-only mode")
    assert await ibkr.positions() == []  # nothing adopted: the account (not connected) holds nothing
