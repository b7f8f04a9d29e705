"""Market data: shipped and user bars, validation, the exchange calendar and the replay feed.

Data sources sit at the edge of the engine (ARCHITECTURE.md): they read files, check them, and hand
the rest of the engine clean frames and domain ``Quote`` values, never raw rows.
"""

from engine.data.loader import DataError, MarketData, load_user_file
from engine.data.replay import ReplayFeed
from engine.data.shipped import BENCHMARK, SHIPPED_SYMBOLS, default_data_dir, load_close_panel, load_shipped
from engine.data.validation import DataIssue, IssueKind, ValidationReport, validate_bars

__all__ = [
    "BENCHMARK",
    "SHIPPED_SYMBOLS",
    "DataError",
    "DataIssue",
    "IssueKind",
    "MarketData",
    "ReplayFeed",
    "ValidationReport",
    "default_data_dir",
    "load_close_panel",
    "load_shipped",
    "load_user_file",
    "validate_bars",
]
