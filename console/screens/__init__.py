"""The console's screens: the desk, the risk detail and execution report screens, and the dialogs
that sit on top."""

from console.screens.confirm import ConfirmDialog
from console.screens.desk import DeskScreen
from console.screens.executions import ExecutionReportScreen
from console.screens.limits import LimitsDialog
from console.screens.modify import ModifyDialog
from console.screens.reconciliation import ReconciliationDialog
from console.screens.resume import ResumeDialog
from console.screens.risk_detail import RiskDetailScreen

__all__ = [
    "ConfirmDialog",
    "DeskScreen",
    "ExecutionReportScreen",
    "LimitsDialog",
    "ModifyDialog",
    "ReconciliationDialog",
    "ResumeDialog",
    "RiskDetailScreen",
]
