"""The two one-line widgets: the status line at the top and the message line under the panes."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.state import DeskLine
from console.widgets.fmt import NEW_YORK, ny_time
from engine.model.events import StatusEvent

_FEED_STYLE = {"running": "green", "live": "green", "paused": "yellow", "ended": "yellow"}
_LINK_STYLE = {"connected": "green", "connecting": "yellow", "reconnecting": "yellow", "degraded": "yellow"}


class StatusLine(Static):
    """Where the engine is: market time (New York), broker, mode, feed, replay day, connection.

    Market time comes from the engine's events, never the wall clock: in a replay the two
    differ by years, and the operator must see the market's.
    """

    status: reactive[StatusEvent | None] = reactive(None, init=False)
    market_time: reactive[datetime | None] = reactive(None, init=False)
    connection: reactive[str] = reactive("connecting to the engine…", init=False)
    disconnected: reactive[str | None] = reactive(None, init=False)
    """While an attached console has lost its engine: "DISCONNECTED · data 42 s old · ..."."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def on_mount(self) -> None:
        self._redraw()

    def watch_status(self) -> None:
        self._redraw()

    def watch_market_time(self) -> None:
        self._redraw()

    def watch_connection(self) -> None:
        self._redraw()

    def watch_disconnected(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        line = Text(f" {self.app.title} ", style="bold reverse")
        if self.disconnected:  # first, in words and reverse video: it must not depend on colour
            line.append(f" {self.disconnected} ", style="bold reverse red")
        status, ts = self.status, self.market_time
        if ts is not None:
            local = ts.astimezone(NEW_YORK)
            line.append(f" {ny_time(ts)} {local.strftime('%Z')} {local:%a %Y-%m-%d}", style="bold")
        if status is not None:
            for label, value, style in (
                ("broker", status.broker, "bold"),
                ("mode", status.mode, "bold yellow" if status.mode == "live" else "bold"),
                ("feed", "?" if self.disconnected else status.feed, _FEED_STYLE.get(status.feed, "red")),
                ("session", status.session_day or "-", ""),
            ):
                line.append(" │ ", style="dim")
                line.append(f"{label} ", style="dim")
                line.append(value, style=style)
        if status is not None and status.link:
            self._append_link(line, status)
        line.append(" │ ", style="dim")
        line.append(self.connection, style="dim")
        self.update(line, layout=False)  # one fixed row: a relayout per tick cost the idle desk CPU

    @staticmethod
    def _append_link(line: Text, status: StatusEvent) -> None:
        """A remote broker's link: state, server version, account, data type, last heartbeat."""
        line.append(" │ ", style="dim")
        line.append("link ", style="dim")
        line.append(status.link, style=_LINK_STYLE.get(status.link, "bold red"))
        if status.server_version:
            line.append(f" v{status.server_version}", style="dim")
        if status.account:
            line.append(f" {status.account}", style="bold")
        if status.data_type:
            line.append(f" {status.data_type} data", style="" if status.data_type == "live" else "yellow")
        if status.heartbeat is not None:
            line.append(f" ♥ {ny_time(status.heartbeat)}", style="dim")
        if status.broker_equity:
            line.append(f" NLV {status.broker_equity:,.0f} BP {status.buying_power:,.0f}", style="")
        if not status.live_acknowledged:
            line.append(" LIVE: type the account id to trade", style="bold reverse red")
        if status.link_detail and status.link != "connected":
            line.append(f" ({status.link_detail})", style="dim")


class MessageLine(Static):
    """The latest refusal, notice, fill or command result, coloured by level (classes in app.tcss)."""

    line: reactive[DeskLine | None] = reactive(None, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def watch_line(self, line: DeskLine | None) -> None:
        for level in ("info", "warning", "error"):
            self.set_class(line is not None and line.level == level, f"-{level}")
        if line is None:
            self.update("", layout=False)
            return
        stamp = "" if line.ts is None else f"{ny_time(line.ts)}  "
        self.update(f"{stamp}{line.text}", layout=False)  # one fixed row
