"""The headless engine's log: one line per event that matters, summaries for the ones that do not.

Why not one line per event: portfolio and risk updates arrive every few quote steps (2.2 MB in
two minutes of replay), burying the fills and refusals an operator reads the log for. So:

- orders, fills, refusals, alerts, executions, reconciliation, status and notices: one line each;
- portfolio and risk updates: one summary line per ``summary_minutes`` of market time (the latest
  values and how many updates it stands for), and one at each stop;
- cards: one line per refresh with the count and the top card, not every card's details;
- quotes are counted, never logged; risk reports only at ``debug``.

Formats: ``json`` (one object per line, for machines), ``human`` (time, level, words), and under
systemd (``JOURNAL_STREAM`` set, format ``auto``) human lines prefixed with the ``<N>`` syslog
priority journald reads, without a timestamp of our own (journald stamps each line). A
``file`` rotates by size (``logging.handlers.RotatingFileHandler``: stdlib, well kept).
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from engine.model.codec import to_jsonable
from engine.model.events import (
    CardsEvent,
    ExecutionEvent,
    FillEvent,
    MarketEvent,
    NoticeEvent,
    OrderEvent,
    PortfolioEvent,
    RefusalEvent,
    RiskAlert,
    RiskEvent,
    RiskReportEvent,
)

LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}
_SYSLOG = {0: 7, 1: 6, 2: 4, 3: 3}
"""Our level -> syslog priority (debug 7, info 6, warning 4, error 3), for journald's ``<N>``."""
_SUMMARISED = (PortfolioEvent, RiskEvent)


@dataclass(frozen=True, slots=True)
class LogOptions:
    level: str = "info"
    format: str = "json"
    """json, human, or auto (human with syslog priorities under systemd, else json)."""
    file: Path | None = None
    max_bytes: int = 20_000_000
    backups: int = 5
    summary_minutes: float = 30.0


def resolve_format(fmt: str, environ: Mapping[str, str]) -> str:
    """``auto`` is ``journald`` when systemd captures stdout (it sets JOURNAL_STREAM), else json."""
    if fmt != "auto":
        return fmt
    return "journald" if environ.get("JOURNAL_STREAM") else "json"


class EventLog:
    """Writes the events of one headless run; ``write`` for each event, ``close`` at the end."""

    def __init__(
        self,
        options: LogOptions,
        *,
        out: TextIO,
        now: Callable[[], datetime],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._options = options
        self._min = LEVELS[options.level]
        self._format = resolve_format(options.format, os.environ if environ is None else environ)
        self._now = now
        self._out = out
        self._file: logging.handlers.RotatingFileHandler | None = None
        if options.file is not None:
            options.file.parent.mkdir(parents=True, exist_ok=True)
            self._file = logging.handlers.RotatingFileHandler(
                options.file, maxBytes=options.max_bytes, backupCount=options.backups, encoding="utf-8"
            )
            self._file.setFormatter(logging.Formatter("%(message)s"))
        self.quotes = 0
        self._pending: dict[type, tuple[Any, int]] = {}
        self._last_summary: datetime | None = None
        self.lines = 0

    # ------------------------------------------------------------------ events
    def write(self, event: Any) -> None:
        if isinstance(event, MarketEvent):
            self.quotes += len(event.quotes)
            return
        if isinstance(event, _SUMMARISED):
            _, n = self._pending.get(type(event), (event, 0))
            self._pending[type(event)] = (event, n + 1)
            self._maybe_summarise()
            return
        level = _level(event)
        if isinstance(event, RiskReportEvent):
            level = LEVELS["debug"]  # every few seconds and large: the detail screen's, not the log's
        if level < self._min:
            return
        self._emit(level, _kind(event), _fields(event), _words(event))

    def lifecycle(self, name: str, **fields: Any) -> None:
        """EngineStarted / EngineStopped: always written, whatever the level."""
        self._emit(LEVELS["info"], name, fields, " ".join(f"{k}={v}" for k, v in fields.items()))

    def close(self) -> None:
        self._summarise()
        if self._file is not None:
            self._file.close()

    # ------------------------------------------------------------------ summaries
    def _maybe_summarise(self) -> None:
        now = self._now()
        if self._last_summary is None:
            self._last_summary = now
            return
        if now - self._last_summary >= timedelta(minutes=self._options.summary_minutes):
            self._summarise()
            self._last_summary = now

    def _summarise(self) -> None:
        if self._min > LEVELS["info"]:
            self._pending.clear()
            return
        for event, n in self._pending.values():
            fields = {**_summary(event), "updates": n}
            words = f"{_words(event)} ({n} update{'s' if n != 1 else ''})"
            self._emit(LEVELS["info"], _kind(event), fields, words)
        self._pending.clear()

    # ------------------------------------------------------------------ output
    def _emit(self, level: int, kind: str, fields: dict[str, Any], words: str) -> None:
        name = next(k for k, v in LEVELS.items() if v == level)
        if self._format == "json":
            line = json.dumps({"event": kind, "level": name, **fields}, separators=(",", ":"), default=str)
        elif self._format == "journald":
            line = f"<{_SYSLOG[level]}>{kind}: {words}"
        else:
            line = f"{self._now():%Y-%m-%d %H:%M:%S} {name.upper():<7} {kind}: {words}"
        self.lines += 1
        if self._file is not None:
            self._file.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
            return
        with contextlib.suppress(OSError, ValueError):  # a terminal or pipe that is gone loses the line
            self._out.write(line + "\n")
            self._out.flush()


def _kind(event: Any) -> str:
    return type(event).__name__


def _level(event: Any) -> int:
    if isinstance(event, NoticeEvent):
        return LEVELS.get(event.level, 1)
    if isinstance(event, RiskAlert):
        return LEVELS.get(event.level, LEVELS["warning"])
    if isinstance(event, RefusalEvent):
        return LEVELS["warning"]
    return LEVELS["info"]


def _fields(event: Any) -> dict[str, Any]:
    if isinstance(event, CardsEvent):
        top = max(event.cards, key=lambda c: c.score, default=None)
        return {
            "asof": event.asof.isoformat(),
            "cards": len(event.cards),
            "top": top.name if top else "",
            "rejected": dict(event.rejected),
        }
    data = to_jsonable(event)
    data.pop("type", None)
    return dict(data)


def _summary(event: Any) -> dict[str, Any]:
    if isinstance(event, PortfolioEvent):
        a = event.account
        held = sum(1 for p in event.positions if abs(p.quantity) > 1e-9)
        return {"equity": round(a.equity, 2), "day_pnl": round(a.day_pnl, 2), "positions": held}
    if isinstance(event, RiskEvent):
        r = event.risk
        return {
            "trading_state": r.trading_state.value,
            "kill_level": r.kill_level,
            "day_loss": round(r.day_loss, 2),
            "drawdown": round(r.drawdown, 4),
            "var_95": round(r.var_95, 2),
        }
    return _fields(event)


def _words(event: Any) -> str:
    """The event for a person, in one line."""
    if isinstance(event, NoticeEvent):
        return event.message
    if isinstance(event, OrderEvent):
        o = event.order
        price = f" @ {o.avg_fill_price:g}" if o.avg_fill_price else ""
        return f"{o.client_order_id} {o.side.value} {o.quantity:g} {o.symbol} {o.status.value}{price}"
    if isinstance(event, FillEvent):
        f = event.fill
        fee = f"(fee {f.commission:g})"
        return f"{f.client_order_id} {f.side.value} {f.quantity:g} {f.symbol} @ {f.price:g} {fee}"
    if isinstance(event, RefusalEvent):
        return f"{event.action.value} refused [{event.code.value}] {event.subject}: {event.message}".strip()
    if isinstance(event, RiskAlert):
        return (
            f"[{event.code.value}] {event.subject}: {event.message}"
            if event.subject
            else f"[{event.code.value}] {event.message}"
        )
    if isinstance(event, ExecutionEvent):
        return f"{event.name} ({event.card_id}) {event.status.value} {event.message}".strip()
    if isinstance(event, CardsEvent):
        fields = _fields(event)
        return f"{fields['cards']} cards as of {event.asof:%Y-%m-%d}, top: {fields['top'] or '-'}"
    if isinstance(event, _SUMMARISED):
        return " ".join(f"{k}={v}" for k, v in _summary(event).items())
    fields = _fields(event)
    return " ".join(f"{k}={v}" for k, v in list(fields.items())[:8])
