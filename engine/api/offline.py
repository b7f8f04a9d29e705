"""What the command line does to an engine's files when no engine is running, and what "cannot
start" looks like (one line, exit 2, never a traceback)."""

from engine.runtime.startup import STARTUP_ERRORS, EngineStartError, halt_offline

__all__ = ["STARTUP_ERRORS", "EngineStartError", "halt_offline"]
