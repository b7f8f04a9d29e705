"""The operator's keys, in one place so the app, the desk and the panes that name them agree.

Bindings are declared once, with ids (``onetap.<field>``); the keys come from here through
``App.set_keymap``, so a remapped key is the key every pane hint and dialog text shows too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import HotkeySettings


@dataclass(frozen=True, slots=True)
class Hotkeys:
    """The operator's keys, in Textual's key syntax. Each maps to a binding id (``keymap``)."""

    execute: str = "x"
    kill: str = "ctrl+k"
    resume: str = "R"
    quit: str = "q"
    up: str = "k"
    down: str = "j"
    cancel_order: str = "c"
    flatten: str = "F"
    risk_detail: str = "v"
    limits: str = "L"
    cancel_all: str = "C"
    modify: str = "m"
    filter_open: str = "o"
    executions: str = "e"
    approve: str = "a"
    research: str = "b"
    portfolio: str = "p"
    rebalance: str = "w"

    @classmethod
    def from_settings(cls, settings: HotkeySettings) -> Hotkeys:
        """From the ``[hotkeys]`` section of the configuration.

        Only the keys the settings name are taken; the others keep their defaults, so a key
        added to the console works before (or without) a setting of its own.
        """
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)})

    def keymap(self) -> dict[str, str]:
        """Binding id -> key, for ``App.set_keymap``: bindings are declared once, keys come from here."""
        return {f"onetap.{f.name}": getattr(self, f.name) for f in fields(self)}
