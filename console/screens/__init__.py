"""The console's screens: the desk, the risk detail screen, and the dialogs that sit on top."""

from console.screens.confirm import ConfirmDialog
from console.screens.desk import DeskScreen
from console.screens.limits import LimitsDialog
from console.screens.resume import ResumeDialog
from console.screens.risk_detail import RiskDetailScreen

__all__ = ["ConfirmDialog", "DeskScreen", "LimitsDialog", "ResumeDialog", "RiskDetailScreen"]
