"""The desk's widgets, one module per area of the screen. Each owns its rendering and is fed by
assigning its reactives; none of them knows the engine client."""

from console.widgets.banner import HaltBanner
from console.widgets.blotter import OrderBlotter
from console.widgets.cards import CardsPane
from console.widgets.positions import PositionsPane
from console.widgets.progress import ExecutionProgress
from console.widgets.risk import RiskGauges
from console.widgets.status import MessageLine, StatusLine
from console.widgets.table import SyncedTable

__all__ = [
    "CardsPane",
    "ExecutionProgress",
    "HaltBanner",
    "MessageLine",
    "OrderBlotter",
    "PositionsPane",
    "RiskGauges",
    "StatusLine",
    "SyncedTable",
]
