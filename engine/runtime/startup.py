"""What an engine needs before it runs, shared with the commands that read a database offline:
the database's path, the market's bars, the instruments, and the errors that mean "cannot start"."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from engine.brokers.base import Broker, BrokerError
from engine.clock import WallClock
from engine.config import ConfigError, Settings
from engine.data.loader import DataError
from engine.model import AlertCode, CommandSource, Instrument, TradingState
from engine.risk.killswitch import STATE_KEY, HaltState
from engine.store.db import StoreError, default_database_path
from engine.store.paths import database_path
from engine.store.repository import Store
from engine.store.sealing import AuditProtection


class EngineStartError(Exception):
    """The engine cannot start as configured; the message says what to change."""


STARTUP_ERRORS: tuple[type[Exception], ...] = (
    BrokerError,
    ConfigError,
    DataError,
    EngineStartError,
    StoreError,
    ValueError,
    OSError,
)
"""What "cannot start as configured" looks like: the CLI prints one line and exits 2, never a traceback."""


IDENTITY_KEY = "broker_account"
"""The broker and account a database belongs to, recorded when it first met one."""


def check_identity(store: Store, broker: Broker, database: Path, now: datetime) -> None:
    """A database belongs to one broker and one account: refuse another, before anything is written.

    A database that never recorded one (new, or from before this rule) takes the current one. An
    IBKR account not known yet (TWS not running) is checked when it is (``check_identity`` again).
    """
    if not broker.account:
        return
    mine = {"broker": broker.name, "account": broker.account}
    raw = store.get_state(IDENTITY_KEY)
    if raw is None:
        store.set_state(IDENTITY_KEY, json.dumps(mine), now)
        return
    stored = json.loads(raw)
    if stored != mine:
        other = default_database_path(broker.name, broker.account if broker.name != "paper" else "")
        raise EngineStartError(
            f"{database} belongs to {stored.get('broker')} account {stored.get('account')}, not "
            f"{broker.name} account {broker.account}: its book is not this account's. Use that "
            f"account's own database (the default for it is {other}; or --database PATH)"
        )


def instruments(settings: Settings) -> dict[str, Instrument]:
    """What each configured symbol is: the shipped description where there is one, else a stock
    in its configured sector."""
    from engine.data.shipped import INSTRUMENTS

    out: dict[str, Instrument] = {}
    for symbol in [*settings.universe.symbols, settings.universe.benchmark]:
        known = INSTRUMENTS.get(symbol)
        sector = settings.universe.sectors.get(symbol, "")
        out[symbol] = known if known is not None else Instrument(symbol, sector=sector)
    return out


def session_start(day: date) -> datetime:
    from engine.data.calendar import is_session, next_session, session_open_close

    return session_open_close(day if is_session(day) else next_session(day))[0]


def halt_offline(
    settings: Settings, reason: str, user: str, *, database: Path | None = None, level: int = 1
) -> Path:
    """Engage the kill switch in the database of an engine that is not running.

    The next start comes up HALTED, exactly as if the switch had been pressed live (level 2:
    and flattens every position once the market has prices). Paused strategies stay paused.
    """
    path = database or database_path(settings)
    store = Store.open(path, protection=AuditProtection.from_settings(settings.store))
    try:
        now = WallClock().now()
        before = HaltState.from_json(store.get_state(STATE_KEY))
        halt = HaltState(
            TradingState.HALTED, reason, now, f"{user} (cli)", max(level, before.kill_level), before.paused
        )
        store.set_state(STATE_KEY, halt.to_json(), now)
        store.record_risk_event(now, "halt", AlertCode.HALTED, reason, {"by": halt.by, "offline": True})
        store.append_audit(now, user, CommandSource.CLI.value, "halt", {"reason": reason, "offline": True})
    finally:
        store.close()
    return path
