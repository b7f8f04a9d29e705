"""Messages between the engine client, the app and the widgets.

The flow of a tick: the client's sink posts ``EngineEventMessage`` to the app (safe from any
thread: Textual hops it onto the app's loop); the app folds it into ``DeskState`` and only
marks areas dirty; a 10 Hz timer pushes the dirty areas to the widgets. Repaints are
therefore bounded by the timer, not by the feed. Market messages also collapse in the
queue itself (``can_replace``) so a burst costs one fold, not hundreds.

Widgets never hold the client: they ask for a command with ``CommandRequest`` and the app
sends it, so every command's result is shown in one place.
"""

from __future__ import annotations

from textual.message import Message

from engine.model import Order
from engine.model.events import Command, Event, MarketEvent


class EngineEventMessage(Message):
    """One event from the engine, on its way to the app's ``DeskState``."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        """Let a newer market update supersede this queued one, when nothing would be lost.

        Textual asks the older message whether the next queued one may take its place. A
        MarketEvent carries only the symbols that changed, so the newer one may replace
        this one only if it quotes every symbol this one does; otherwise both are folded.
        """
        if not isinstance(message, EngineEventMessage):
            return False
        mine, theirs = self.event, message.event
        if not isinstance(mine, MarketEvent) or not isinstance(theirs, MarketEvent):
            return False
        return {q.symbol for q in mine.quotes} <= {q.symbol for q in theirs.quotes}


class CommandRequest(Message):
    """A widget or screen asks the app to send a command to the engine."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


class ModifyRequest(Message):
    """The blotter asks the app to open the modify dialog for a working order.

    The dialog sends ``ModifyOrder`` and shows a refusal in place, so it needs the app's
    ``send_command`` (the result), not just a fire-and-forget ``CommandRequest``.
    """

    def __init__(self, order: Order) -> None:
        super().__init__()
        self.order = order
