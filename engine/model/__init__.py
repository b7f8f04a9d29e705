"""The one domain vocabulary. Standard library only; no I/O; every other package speaks it."""

from engine.model.enums import (
    Algo,
    AssetClass,
    CommandSource,
    ExecutionStatus,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from engine.model.market import Bar, Instrument, Quote
from engine.model.options import OptionContract, contract_multiplier, is_option_symbol
from engine.model.orders import RANKING_FORMULA, Fill, Leg, Order, OrderRequest, StrategyCard
from engine.model.portfolio import AccountSnapshot, Position, RiskState

__all__ = [
    "RANKING_FORMULA",
    "AccountSnapshot",
    "Algo",
    "AssetClass",
    "Bar",
    "CommandSource",
    "ExecutionStatus",
    "Fill",
    "Instrument",
    "Leg",
    "OptionContract",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "RiskState",
    "Side",
    "StrategyCard",
    "TimeInForce",
    "TradingState",
    "contract_multiplier",
    "is_option_symbol",
]
