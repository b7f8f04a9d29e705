"""The one domain vocabulary. Standard library only; no I/O; every other package speaks it."""

from engine.model.commission import CommissionSchedule
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
from engine.model.exits import ExitPolicy, ProtectionLevels, StopRule, TimeExit, resolve_levels
from engine.model.lots import Lot, LotMethod, RealizedLot
from engine.model.market import Bar, Instrument, Quote
from engine.model.options import OptionContract, contract_multiplier, is_option_symbol
from engine.model.orders import RANKING_FORMULA, Fill, Leg, Order, OrderRequest, StrategyCard
from engine.model.portfolio import AccountSnapshot, Position, RiskState
from engine.model.positions import PositionChange, apply_to_position
from engine.model.rebalance import AutopilotRun, RebalancePlan
from engine.model.vocabulary import Action, AlertCode, DeskArea, RefusalCode

__all__ = [
    "RANKING_FORMULA",
    "AccountSnapshot",
    "Action",
    "AlertCode",
    "Algo",
    "AssetClass",
    "AutopilotRun",
    "Bar",
    "CommandSource",
    "CommissionSchedule",
    "DeskArea",
    "ExecutionStatus",
    "ExitPolicy",
    "Fill",
    "Instrument",
    "Leg",
    "Lot",
    "LotMethod",
    "OptionContract",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionChange",
    "ProtectionLevels",
    "Quote",
    "RealizedLot",
    "RebalancePlan",
    "RefusalCode",
    "RiskState",
    "Side",
    "StopRule",
    "StrategyCard",
    "TimeExit",
    "TimeInForce",
    "TradingState",
    "apply_to_position",
    "contract_multiplier",
    "is_option_symbol",
    "resolve_levels",
]
