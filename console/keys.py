"""The operator's keys: declared once, in ``[hotkeys]`` (``engine.config.HotkeySettings``).

Bindings are declared with ids (``onetap.<field>``); the keys come from the settings through
``App.set_keymap``, so a remapped key is the key every pane hint and dialog text shows too.
"""

from __future__ import annotations

from engine.config import HotkeySettings as Hotkeys


def keymap(keys: Hotkeys) -> dict[str, str]:
    """Binding id -> key, for ``App.set_keymap``: bindings are declared once, keys come from here."""
    return {f"onetap.{name}": getattr(keys, name) for name in Hotkeys.model_fields}


__all__ = ["Hotkeys", "keymap"]
