"""The paper broker, the commission schedule and the replay as the shipped settings make them.

Their defaults live in ``[broker]`` and ``[replay]`` (config/default.toml and its schema) only:
the objects have none of their own. A test that needs "the usual broker" or "the usual replay"
builds it here, from those settings, through the same door the engine uses (``from_settings``),
and names only what it changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from engine.brokers.paper import PaperBroker
from engine.clock import Clock, SimulatedClock
from engine.config import BrokerSettings, ReplaySettings, Settings, load_settings
from engine.data.loader import MarketData
from engine.data.replay import ReplayFeed
from engine.model import CommissionSchedule

Section = TypeVar("Section", bound=BaseModel)


@cache
def shipped_settings() -> Settings:
    """config/default.toml as it ships (no user file, no environment); do not change it in place."""
    return load_settings(environ={})


def _with(section: Section, name: str, overrides: dict[str, Any]) -> Section:
    """``section`` with ``overrides``, not validated (a test may hand an object nonsense to see its
    own checks refuse it), but a key the section does not have is a mistake, refused by name."""
    unknown = sorted(set(overrides) - set(type(section).model_fields))
    if unknown:
        raise TypeError(f"[{name}] has no key {', '.join(unknown)}")
    return section.model_copy(update=overrides)


def broker_settings(**overrides: Any) -> BrokerSettings:
    """``[broker]`` as shipped, with ``overrides``."""
    return _with(shipped_settings().broker, "broker", overrides)


def replay_settings(**overrides: Any) -> ReplaySettings:
    """``[replay]`` as shipped, with ``overrides`` (``start``, ``end``: ISO dates; ``end`` "": to the end)."""
    return _with(shipped_settings().replay, "replay", overrides)


def replay_feed(
    data: MarketData,
    clock: SimulatedClock,
    *,
    start: date,
    end: date | None = None,
    resume_after: date | None = None,
    **overrides: Any,
) -> ReplayFeed:
    """The replay ``[replay]`` describes, with ``overrides``, from ``start`` to ``end`` (None: to the end).

    ``start`` is required here: which sessions to play is each test's own choice."""
    replay = replay_settings(start=start.isoformat(), end=end.isoformat() if end else "", **overrides)
    return ReplayFeed.from_settings(replay, data, clock, resume_after=resume_after)


def commissions(**overrides: Any) -> CommissionSchedule:
    """The shipped commission schedule (``[broker] commission_*``), with ``overrides`` of its fields."""
    return replace(CommissionSchedule.from_settings(broker_settings()), **overrides)


def paper_broker(
    clock: Clock,
    *,
    journal: Path | None = None,
    schedule: CommissionSchedule | None = None,
    **overrides: Any,
) -> PaperBroker:
    """The paper broker ``[broker]`` describes, with ``overrides`` of its keys.

    ``schedule``: a commission schedule ``[broker]`` cannot describe (one with a ``pct`` charge);
    it replaces the one the settings make.
    """
    settings = broker_settings(**overrides)
    if schedule is None:
        return PaperBroker.from_settings(settings, clock, journal=journal)
    return PaperBroker(
        clock,
        starting_cash=settings.starting_cash,
        commissions=schedule,
        slippage_bps=settings.slippage_bps,
        max_participation=settings.max_participation,
        allow_short=settings.allow_short,
        allow_fractional=settings.allow_fractional,
        settlement_days=settings.settlement_days,
        option_rate=settings.option_rate,
        journal=journal,
    )
