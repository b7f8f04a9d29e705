"""The two one-line widgets: the status line at the top and the message line under the panes."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath

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
        """Most important first, so a narrow terminal's ellipsis cuts the least: the clock, the
        broker and mode, the feed, the link to the engine, then a remote broker's details. Labels
        are left out where the value says what it is (issue 19: the header was cut at 160 columns
        in attach and IBKR modes)."""
        line = Text(f" {self.app.title} ", style="bold reverse")
        if self.disconnected:  # first, in words and reverse video: it must not depend on colour
            line.append(f" {self.disconnected} ", style="bold reverse red")
        status, ts = self.status, self.market_time
        if ts is not None:
            local = ts.astimezone(NEW_YORK)
            line.append(f" {ny_time(ts)} {local.strftime('%Z')} {local:%a %Y-%m-%d}", style="bold")
        if status is not None:
            shown_day = ts.astimezone(NEW_YORK).date().isoformat() if ts is not None else ""
            mode = status.broker if status.mode == status.broker else f"{status.broker} {status.mode}"
            line.append(" │ ", style="dim")
            line.append(mode, style="bold yellow" if status.mode.startswith("live") else "bold")
            line.append(" │ ", style="dim")
            line.append("feed ", style="dim")
            line.append("?" if self.disconnected else status.feed, style=_FEED_STYLE.get(status.feed, "red"))
            if status.session_day != shown_day:  # between sessions: the clock's day is not the session's
                line.append(f" session {status.session_day or '-'}", style="dim")
        line.append(" │ ", style="dim")
        line.append(_short_connection(self.connection), style="dim")
        if status is not None and status.link:
            self._append_link(line, status)
        self.update(line, layout=False)  # one fixed row: a relayout per tick cost the idle desk CPU

    @staticmethod
    def _append_link(line: Text, status: StatusEvent) -> None:
        """A remote broker's link: account and state, data type, last heartbeat, the broker's figures
        (the server version is left out: the StatusEvent keeps it; the header has no room to spare)."""
        line.append(" │ ", style="dim")
        if status.account:
            line.append(f"{status.account} ", style="bold")
        else:
            line.append("link ", style="dim")
        line.append(status.link, style=_LINK_STYLE.get(status.link, "bold red"))
        if not status.live_acknowledged:
            line.append(" LIVE: type the account id to trade", style="bold reverse red")
        if status.data_type:
            line.append(f" {status.data_type} data", style="" if status.data_type == "live" else "yellow")
        if status.link_detail and status.link != "connected":
            line.append(f" ({status.link_detail})", style="dim")
        if status.heartbeat is not None:
            line.append(f" ♥{ny_time(status.heartbeat)}", style="dim")
        if status.broker_equity:
            line.append(f" NLV {_compact(status.broker_equity)} BP {_compact(status.buying_power)}")


def _short_connection(text: str) -> str:
    """A socket's directory says nothing at a glance ("attached to /run/user/1000/onetap/engine.sock"):
    the header keeps the file's name; the message line and ``onetap --help`` have the whole path."""
    words = [PurePath(w).name if w.startswith("/") and len(w) > 24 else w for w in text.split(" ")]
    return " ".join(words)


def _compact(value: float) -> str:
    """1,234,567 -> 1.23M: the broker's figures are a check on onetap's, not for the cent."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:,.0f}"


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
