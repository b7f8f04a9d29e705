"""The console's screens: the desk, and the dialogs that sit on top of it."""

from console.screens.desk import DeskScreen
from console.screens.resume import ResumeDialog

__all__ = ["DeskScreen", "ResumeDialog"]
