"""Typed settings: ``config/default.toml``, then ``--config FILE``, then ``ONETAP_*`` variables.

The pydantic models below are the schema: their defaults equal ``config/default.toml``
(a test keeps the two identical), unknown keys are refused, and every error is reduced to
one line that names the file, the key and what was expected, because a trader starting
the engine needs to know what to fix, not read a traceback.

Every number is finite (``inf`` and ``nan`` are refused everywhere, because an infinite limit is a
limit switched off) and every money or count setting has an upper bound: a typo of a few zeros
must stop start-up, not trade. The same schema checks a limit changed at run time (``SetLimit``).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.model.redact import redact_urls
from engine.paths import DEFAULT_CONFIG, env_key, env_value

DEFAULT_STRATEGIES = DEFAULT_CONFIG.with_name("strategies.toml")
"""The templates' settings ship in their own file; it is read as the ``[strategies]`` section."""

MAX_CASH = 1e12
"""The largest account cash a paper broker may start with (USD): beyond it float cents lose precision."""
MAX_ORDER_VALUE = 1e9
"""The largest ``[risk] max_order_value`` (USD)."""
MAX_ORDER_QUANTITY = 1e7
"""The largest ``[risk] max_order_quantity`` (shares)."""
MAX_SEED = 2**32 - 1
"""Seeds feed numpy generators; a bound keeps them one 32-bit word."""

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
Money = Annotated[float, Field(gt=0.0, le=MAX_CASH)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class ConfigError(Exception):
    """One line that says which file and key are wrong and what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


DEFAULT_SECTORS = {
    "AAPL": "Information Technology",
    "MSFT": "Information Technology",
    "GOOG": "Information Technology",
    "IBM": "Information Technology",
    "AMZN": "Consumer Discretionary",
}


class UniverseSettings(_Section):
    symbols: list[str] = Field(default=["AAPL", "MSFT", "GOOG", "IBM", "AMZN"], min_length=1)
    benchmark: str = "SPX"
    sectors: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SECTORS))
    benchmark_weights: dict[str, float] = Field(default_factory=dict)
    """The portfolio report's Brinson benchmark by symbol (normalised); empty: ``symbols`` equal-weighted."""

    @field_validator("symbols")
    @classmethod
    def _upper_unique(cls, v: list[str]) -> list[str]:
        out = [s.strip().upper() for s in v]
        if len(set(out)) != len(out):
            raise ValueError("symbols must be unique")
        return out


class DataSettings(_Section):
    source: Literal["shipped", "file"] = "shipped"
    path: str = ""
    jump_threshold: Fraction = 0.25
    instruments: str = ""
    """A TOML or CSV file describing each symbol of ``path`` (exchange, calendar, currency, asset
    class; ``engine.data.instruments``); "" = every symbol is a US stock on XNYS."""
    intraday: str = ""
    """An intraday sets file (FX and crypto bars of 1 minute .. 1 day and their templates;
    ``engine.research.intraday.load_sets``): ``onetap cards`` shows their cards; "" = none."""
    replay_sets: list[str] = Field(default_factory=list)
    """Sets of ``intraday`` the paper replay plays bar by bar (their symbols must be in
    ``[universe] symbols``); [] = every symbol's daily bars, as before."""

    @field_validator("replay_sets")
    @classmethod
    def _unique_sets(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("replay_sets must be unique")
        return v


class ReplaySettings(_Section):
    start: str = "2012-01-03"
    end: str = "2013-03-01"
    seconds_per_day: Annotated[float, Field(ge=0.5, le=86_400.0)] = 45.0
    steps_per_day: Annotated[int, Field(ge=10, le=23_400)] = 390
    seed: Seed = 7
    spread_bps: Annotated[float, Field(ge=0.0, le=500.0)] = 2.0

    @field_validator("start", "end")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        if v:
            try:
                date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"expected a date YYYY-MM-DD, got {v!r}") from None
        return v

    @property
    def start_date(self) -> date:
        return date.fromisoformat(self.start)

    @property
    def end_date(self) -> date | None:
        return date.fromisoformat(self.end) if self.end else None


class BrokerSettings(_Section):
    kind: Literal["paper", "ibkr"] = "paper"
    starting_cash: Money = 100_000.0
    commission_per_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.005
    commission_min: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    commission_max_pct: Annotated[float, Field(ge=0.0, le=0.1)] = 0.01
    slippage_bps: Annotated[float, Field(ge=0.0, le=1000.0)] = 1.0
    max_participation: Fraction = 0.25
    allow_short: bool = False
    allow_fractional: bool = True
    settlement_days: Annotated[int, Field(ge=0, le=5)] = 1
    option_rate: Annotated[float, Field(ge=-0.1, le=0.5)] = 0.0
    commission_per_contract: Annotated[float, Field(ge=0.0, le=100.0)] = 0.65
    commission_fx_bps: Annotated[float, Field(ge=0.0, le=100.0)] = 0.2
    commission_fx_min: Annotated[float, Field(ge=0.0, le=100.0)] = 2.0
    commission_crypto_pct: Annotated[float, Field(ge=0.0, le=0.1)] = 0.0018
    commission_crypto_min: Annotated[float, Field(ge=0.0, le=100.0)] = 1.75
    commission_future_per_contract: Annotated[float, Field(ge=0.0, le=100.0)] = 0.85


PAPER_PORTS = frozenset({7497, 4002})
"""TWS's and IB Gateway's default paper-trading ports."""
LIVE_PORTS = frozenset({7496, 4001})
"""TWS's and IB Gateway's default live-trading ports."""
MAX_DEPTH_SYMBOLS = 3
"""Market depth requests IB allows at a time by default (more are refused with error 309)."""


class IbkrSettings(_Section):
    """Interactive Brokers through TWS / IB Gateway; used when ``[broker] kind = "ibkr"``."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65_535)] = 7497
    client_id: Annotated[int, Field(ge=0, le=2**31 - 1)] = 17
    account: str = ""
    live: bool = False
    live_acknowledge: str = ""
    read_only: bool = False
    market_data: Literal["live", "delayed"] = "live"
    connect_timeout_s: Annotated[float, Field(gt=0.0, le=120.0)] = 8.0
    heartbeat_s: Annotated[float, Field(gt=0.0, le=300.0)] = 5.0
    reconnect_max_s: Annotated[float, Field(ge=0.5, le=3_600.0)] = 60.0
    nightly_reset: str = "23:45-00:45"
    history: str = "2 Y"
    history_cache: str = ""
    depth_symbols: list[str] = []
    """Symbols whose market depth (reqMktDepth) feeds the depth imbalance; IB allows 3 at a time."""

    @field_validator("nightly_reset")
    @classmethod
    def _window(cls, v: str) -> str:
        if v:
            try:
                first, last = v.split("-")
                time.fromisoformat(first.strip())
                time.fromisoformat(last.strip())
            except ValueError:
                raise ValueError(f'expected "HH:MM-HH:MM" (New York time) or "", got {v!r}') from None
        return v

    @field_validator("depth_symbols")
    @classmethod
    def _depth(cls, v: list[str]) -> list[str]:
        symbols = list(dict.fromkeys(s.strip().upper() for s in v))
        if any(not s for s in symbols):
            raise ValueError("[ibkr] depth_symbols: a symbol is empty")
        if len(symbols) > MAX_DEPTH_SYMBOLS:
            raise ValueError(
                f"[ibkr] depth_symbols names {len(symbols)} symbols ({', '.join(symbols)}); IB allows "
                f"{MAX_DEPTH_SYMBOLS} market depth requests at a time by default"
            )
        return symbols

    @field_validator("history")
    @classmethod
    def _duration(cls, v: str) -> str:
        parts = v.split()
        if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("D", "W", "M", "Y"):
            raise ValueError(f'expected an IB duration like "2 Y", "6 M" or "90 D", got {v!r}')
        return v


class StoreSettings(_Section):
    database: str = ""
    audit_key: str = ""
    audit_witness: str = ""


class EngineSettings(_Section):
    socket: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "human", "auto"] = "json"
    """auto: human lines with syslog priorities when systemd captures the output, else json."""
    log_file: str = ""
    """Write the headless log here (rotated by size) instead of stdout; "" is stdout."""
    log_max_bytes: Annotated[int, Field(ge=10_000, le=10_000_000_000)] = 20_000_000
    log_backups: Annotated[int, Field(ge=0, le=1_000)] = 5
    log_summary_minutes: Annotated[float, Field(gt=0.0, le=1_440.0)] = 30.0
    """Portfolio and risk updates are summarised once per this much market time."""
    auto_approve_recovery: bool = False
    algo_flow_timing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """VWAP/TWAP/limit-at-mid time their children by the quote imbalance beyond this (0: off)."""


class QuoteSettings(_Section):
    """Live quote quality (``engine.data.quote_quality``): what holds a quote out of marks,
    signals and fills, and when a symbol is stale."""

    stale_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = 120.0
    spike_deviations: Annotated[float, Field(gt=1.0, le=1_000.0)] = 12.0
    spike_history: Annotated[int, Field(ge=2, le=10_000)] = 20
    spike_floor_bps: Annotated[float, Field(ge=0.0, le=10_000.0)] = 400.0
    max_lag_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = 10.0
    locked_is_bad: bool = True


class RecordingSettings(_Section):
    """Session recordings (``engine.data.recording``): every input, to replay an incident exactly."""

    enabled: bool = True
    folder: str = ""
    """"" is ``recordings/`` beside the database (the user's data folder)."""
    max_part_mb: Annotated[int, Field(ge=1, le=100_000)] = 64
    max_total_mb: Annotated[int, Field(ge=1, le=10_000_000)] = 2048


class HttpSettings(_Section):
    """The engine's HTTP door (health, readiness, Prometheus metrics, read-only JSON, events).

    Off by default and on loopback; binding elsewhere needs ``token_file`` (a 0600 file holding a
    bearer token), which also guards the write actions (kill; execute only with ``allow_execute``).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 8787
    token_file: str = ""
    allow_execute: bool = False


PerSecond = Annotated[int, Field(ge=1, le=10_000)]
PerDay = Annotated[int, Field(ge=1, le=1_000_000)]


VarMethod = Literal[
    "historical",
    "parametric",
    "monte_carlo",
    "fhs_ewma",
    "fhs_garch",
    "fhs_gjr",
    "student_t",
    "cornish_fisher",
    "evt",
    "evt_gjr",
]
"""engine.risk.var_models.METHODS (a test keeps the two lists equal)."""


class RiskSettings(_Section):
    max_order_value: Annotated[float, Field(gt=0.0, le=MAX_ORDER_VALUE)] = 25_000.0
    max_order_quantity: Annotated[float, Field(gt=0.0, le=MAX_ORDER_QUANTITY)] = 5_000.0
    max_position_pct: Fraction = 0.15
    risk_per_trade_pct: Fraction = 0.02
    max_sector_pct: Fraction = 0.30
    gross_exposure_limit: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    price_band_pct: Fraction = 0.05
    max_orders_per_second: PerSecond = 5
    max_orders_per_day: PerDay = 100
    max_modifies_per_second: PerSecond = 5
    max_modifies_per_day: PerDay = 200
    max_cancels_per_second: PerSecond = 10
    max_cancels_per_day: PerDay = 500
    repeat_fill_max: Annotated[int, Field(ge=1, le=10_000)] = 10
    repeat_fill_window_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = 60.0
    duplicate_window_s: Annotated[float, Field(ge=0.0, le=3_600.0)] = 10.0
    market_hours_only: bool = True
    daily_loss_limit_pct: Fraction = 0.02
    daily_loss_flatten: bool = False
    """The daily-loss breaker also flattens every position (kill level 2), not only halts."""
    drawdown_limit_pct: Fraction = 0.10
    max_consecutive_losses: Annotated[int, Field(ge=1, le=1_000)] = 5
    max_consecutive_rejects: Annotated[int, Field(ge=1, le=1_000)] = 3
    var_limit_pct: Fraction = 0.02
    var_window_days: Annotated[int, Field(ge=20, le=5_000)] = 250
    var_method: VarMethod = "evt_gjr"
    """The VaR model the risk detail screen leads with and backtests (README "VaR models": chosen
    because it passes Kupiec and Christoffersen at 95% and 99% on the shipped series)."""
    var_history_days: Annotated[int, Field(ge=60, le=10_000)] = 1_250
    mc_scenarios: Annotated[int, Field(ge=100, le=1_000_000)] = 10_000
    mc_seed: Seed = 11
    recompute_seconds: Annotated[float, Field(ge=0.5, le=3_600.0)] = 5.0
    account_currency: str = "USD"
    """The currency P&L, exposure and every money limit are in; an instrument in another currency
    converts through the latest mark of its pair (``engine.model.fx``)."""
    fx_rate_max_age_s: Annotated[float, Field(gt=0.0, le=604_800.0)] = 300.0
    """A conversion rate older than this refuses the order (FX_RATE_STALE) rather than guessing."""
    day_boundary: str = ""
    """Where the daily-loss day rolls: "HH:MM Zone" ("17:00 America/New_York" FX, "00:00 UTC"
    crypto); "" = the exchange session's day, or the default of a 24/5 / 24/7 universe."""

    @field_validator("day_boundary")
    @classmethod
    def _day_boundary(cls, v: str) -> str:
        if v:
            from engine.model.day_boundary import DayBoundary

            DayBoundary.parse(v)
        return v

    @field_validator("account_currency")
    @classmethod
    def _account_currency(cls, v: str) -> str:
        from engine.model.instruments import CURRENCIES

        if v not in CURRENCIES:
            raise ValueError(f"expected an ISO currency code ({', '.join(sorted(CURRENCIES))}), got {v!r}")
        return v


class KillSettings(_Section):
    """What the kill switch's level 1 (and a breaker's halt) does to protective orders."""

    level1_cancels_protection: bool = False
    """False (keep-stops): a halt stops new orders but leaves every position's protective stop
    and target working at the broker. True (cancel-all): a halt cancels them too."""


class AlertSettings(_Section):
    min_level: Literal["info", "warning", "error"] = "warning"
    timeout_s: Annotated[float, Field(gt=0.0, le=60.0)] = 5.0
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65_535)] = 25
    smtp_starttls: bool = False
    smtp_from: str = ""
    smtp_to: list[str] = Field(default_factory=list)
    smtp_username: str = ""
    smtp_password_env: str = ""
    command: list[str] = Field(default_factory=list)


TemplateName = Literal["momentum", "mean_reversion", "breakout", "trend", "rotation", "pairs", "options"]
ALL_TEMPLATES: list[TemplateName] = [
    "momentum",
    "mean_reversion",
    "breakout",
    "trend",
    "rotation",
    "pairs",
    "options",
]
CardTemplateName = TemplateName | Literal["rl"]
"""A template the card generator may run: the built-in ones, or ``rl`` (a trained agent from the
model registry, engine/rl/live.py; off unless listed in ``[cards] templates``)."""


class CardSettings(_Section):
    max_cards: Annotated[int, Field(ge=1, le=100)] = 12
    templates: list[CardTemplateName] = Field(
        default_factory=lambda: list[CardTemplateName](ALL_TEMPLATES), min_length=1
    )
    vol_target: Annotated[float, Field(gt=0.0, le=1.0)] = 0.04
    kelly_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    kelly_cap: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    correlation_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    max_book_corr: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.8
    min_adv_value: Annotated[float, Field(ge=0.0, le=MAX_CASH)] = 1_000_000.0
    max_adv_share: Fraction = 0.01
    material_move: Annotated[float, Field(gt=0.0, le=0.1)] = 0.01
    """A price move (a fraction of the price) that re-sizes the cards sized on that symbol; under
    it a card keeps the size it has (engine/runtime/card_memo.py; within the 5% headroom)."""
    calibration: Literal["logistic", "isotonic"] = "logistic"
    meta_label: bool = True
    """Confidence by meta-labelling (engine.strategies.meta_label); false: the score calibrator."""
    fractional: bool = False
    """Fractional share quantities on entry cards (only where the broker takes them too)."""
    intraday_permutations: Annotated[int, Field(ge=0, le=10_000)] = 100
    """Bar shuffles behind each live intraday card's p-value (``[data] replay_sets``); 0: none."""


class ExitSettings(_Section):
    """A template's exit policy (``exit = {...}`` in [strategies.NAME]; engine.model.exits.ExitPolicy).

    ``stop``: none, price (the template's own stop level), atr, percent, trail_amount,
    trail_percent or trail_atr, with ``stop_value`` in that rule's unit; ``target_r``: the target
    at that multiple of the stop distance (absent: no target); ``time_exit``: close (the
    horizon's last close), next_open or none; ``stop_limit_bps``: a stop-limit that many basis
    points beyond the stop (absent: a plain stop). Checked against the template in
    engine/strategies/policy.py.
    """

    stop: Literal["none", "price", "atr", "percent", "trail_amount", "trail_percent", "trail_atr"]
    stop_value: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    target_r: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    time_exit: Literal["close", "next_open", "none"] = "close"
    stop_limit_bps: Annotated[float, Field(gt=0.0, le=10_000.0)] | None = None


class TemplateSettings(_Section):
    """One template's settings ([strategies.NAME] in config/strategies.toml)."""

    signals_required: list[str] = Field(default_factory=list)
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    max_positions: Annotated[int, Field(ge=1, le=100)] = 3
    risk_per_position: Annotated[float, Field(gt=0.0, le=0.05)] = 0.01
    parameters: dict[str, float] = Field(default_factory=dict)
    exit: ExitSettings | None = None
    """The exit policy of its cards (None: the template's own default)."""
    model: str = ""
    """The ``rl`` template only: the trained agent it trades (a model id, a unique prefix of one,
    or a model folder's path; ``onetap rl list`` shows them)."""


class HotkeySettings(_Section):
    execute: str = "x"
    kill: str = "ctrl+k"
    resume: str = "R"
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
    scoreboard: str = "s"
    up: str = "k"
    down: str = "j"
    quit: str = "q"
    help: str = "?,f1"
    quotes: str = "t"
    event_log: str = "l"
    log_filter: str = "f"
    models: str = "M"


OPTIMIZER_METHODS: tuple[str, ...] = (
    "equal_weight",
    "inverse_volatility",
    "min_variance",
    "max_sharpe",
    "risk_parity",
    "hrp",
    "min_cvar",
)


def autopilot_template(method: str) -> str | None:
    """The template whose targets an ``[autopilot] method`` trades ("rotation" is
    "template:rotation"); None for an optimizer."""
    if method == "rotation":
        return "rotation"
    return method.removeprefix("template:") if method.startswith("template:") else None


class AutopilotSettings(_Section):
    """``[autopilot]``: the once-a-session rebalance to optimizer targets (engine/desk/)."""

    enabled: bool = False
    run_at: str = "15:55"
    minutes_before_early_close: Annotated[int, Field(ge=1, le=120)] = 5
    calendar: Literal["XNYS", "24/7", "24/5"] = "XNYS"
    """XNYS: before each session's close. "24/7" (crypto) / "24/5" (FX): at ``run_at`` on
    ``zone`` every day of that calendar (``engine.portfolio.schedule``)."""
    zone: str = "America/New_York"
    """The zone ``run_at`` is read on (a round-the-clock calendar only; XNYS runs on New York)."""
    method: str = "inverse_volatility"
    """An optimizer (``OPTIMIZER_METHODS``), or a template's own targets: "rotation" (the ETF
    rotation) or "template:NAME" (engine/desk/template_targets.py)."""
    symbols: list[str] = Field(default_factory=list)
    lookback_sessions: Annotated[int, Field(ge=20, le=2_520)] = 126
    max_weight: Fraction = 0.15
    sector_cap: Fraction = 0.30
    cash_buffer: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    frequency: Literal["daily", "weekly", "monthly", "off"] = "monthly"
    drift_abs: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    drift_rel: Annotated[float, Field(ge=0.0, le=10.0)] = 0.25
    min_trade_value: Annotated[float, Field(ge=0.0, le=MAX_CASH)] = 100.0
    fractional: bool = False
    sell_unlisted: bool = False
    edge: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    horizon_sessions: Annotated[int, Field(ge=1, le=2_520)] = 21
    retry_every_s: Annotated[float, Field(gt=0.0, le=3_600.0)] = 30.0
    deadline_before_close_s: Annotated[float, Field(ge=0.0, le=3_600.0)] = 60.0
    max_quote_age_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = 900.0
    preview_tolerance: Annotated[float, Field(ge=0.0, le=0.5)] = 0.005
    limit_margin: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    """The optimizer's caps sit this far (a share of equity) below [risk] max_position_pct and
    max_sector_pct, so a plan at the cap is not refused by the risk check it was made to pass."""

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v in OPTIMIZER_METHODS or v == "rotation":
            return v
        name = v.removeprefix("template:")
        if v.startswith("template:") and name in ALL_TEMPLATES:
            return v
        choices = ", ".join([*OPTIMIZER_METHODS, "rotation", *(f"template:{t}" for t in ALL_TEMPLATES)])
        raise ValueError(f"expected one of {choices}; got {v!r}")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected a time zone name (America/New_York, UTC), got {v!r}") from None
        return v

    @field_validator("run_at")
    @classmethod
    def _wall_time(cls, v: str) -> str:
        try:
            time.fromisoformat(v)
        except ValueError:
            raise ValueError(f'expected a New York wall-clock time "HH:MM", got {v!r}') from None
        return v

    @field_validator("symbols")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v]


class TaxLossSettings(_Section):
    """``[tax_loss]``: harvest proposals shown as "tax_loss" cards (engine/desk/)."""

    enabled: bool = False
    min_loss: Annotated[float, Field(ge=0.0, le=MAX_CASH)] = 500.0
    min_loss_pct: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    window_days: Annotated[int, Field(ge=0, le=366)] = 30
    substantially_identical: list[list[str]] = Field(default_factory=list)
    substitutes: list[str] = Field(default_factory=list)
    lookback_sessions: Annotated[int, Field(ge=20, le=2_520)] = 252

    @field_validator("substantially_identical")
    @classmethod
    def _groups(cls, v: list[list[str]]) -> list[list[str]]:
        for group in v:
            if len({s.strip().upper() for s in group}) < 2:
                raise ValueError(f"a substantially-identical group needs two symbols or more, got {group}")
        return [[s.strip().upper() for s in group] for group in v]

    @field_validator("substitutes")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v]


def scheduler_address(value: str) -> str:
    """A research scheduler as configured: "" (none: serial, or a process pool), "local" (a Dask
    ``LocalCluster`` on this machine) or ``tcp://HOST:PORT`` / ``tls://HOST:PORT`` (a running
    ``dask scheduler``). Anything else is refused with what was expected, so a typo fails at start
    instead of after a connection timeout."""
    text = value.strip()
    if text in ("", "local"):
        return text
    scheme, sep, rest = text.partition("://")
    host, colon, port = rest.rpartition(":")
    if sep and scheme in ("tcp", "tls") and colon and host and port.isdigit() and 0 < int(port) < 65536:
        return text
    raise ValueError(f'expected "local" or tcp://HOST:PORT (or tls://HOST:PORT), got {value!r}')


class ResearchSettings(_Section):
    """``[research]``: where research commands fan their runs out (engine/research/executor.py)."""

    scheduler: str = ""
    workers: Annotated[int, Field(ge=1, le=1024)] = 2
    connect_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        return scheduler_address(v)


class Settings(_Section):
    universe: UniverseSettings = UniverseSettings()
    data: DataSettings = DataSettings()
    replay: ReplaySettings = ReplaySettings()
    broker: BrokerSettings = BrokerSettings()
    ibkr: IbkrSettings = IbkrSettings()
    store: StoreSettings = StoreSettings()
    engine: EngineSettings = EngineSettings()
    http: HttpSettings = HttpSettings()
    quotes: QuoteSettings = QuoteSettings()
    recording: RecordingSettings = RecordingSettings()
    risk: RiskSettings = RiskSettings()
    kill: KillSettings = KillSettings()
    alerts: AlertSettings = AlertSettings()
    cards: CardSettings = CardSettings()
    hotkeys: HotkeySettings = HotkeySettings()
    autopilot: AutopilotSettings = AutopilotSettings()
    tax_loss: TaxLossSettings = TaxLossSettings()
    research: ResearchSettings = ResearchSettings()
    strategies: dict[CardTemplateName, TemplateSettings] = Field(default_factory=dict)
    """Per-template settings; a template not listed runs with its own defaults."""


def _number(value: float) -> str:
    return f"{value:,.15g}"


def allowed_range(section: type[BaseModel], name: str) -> str:
    """The bounds of one numeric setting in words ("more than 0, at most 1,000,000,000").

    The documentation (config/default.toml, the README) quotes these words and a test keeps
    them equal to the schema, so the bound a trader reads is the bound the engine enforces.
    """
    words: list[str] = []
    for rule in section.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Gt):
            words.append(f"more than {_number(float(rule.gt))}")  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.Ge):
            words.append(f"at least {_number(float(rule.ge))}")  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.Lt):
            words.append(f"less than {_number(float(rule.lt))}")  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.Le):
            words.append(f"at most {_number(float(rule.le))}")  # type: ignore[arg-type]
    return ", ".join(words)


def risk_limit_ranges() -> dict[str, str]:
    """Every numeric ``[risk]`` limit and its allowed range in words (booleans have none)."""
    return {
        name: allowed_range(RiskSettings, name)
        for name, field in RiskSettings.model_fields.items()
        if field.metadata  # numbers carry bounds; booleans and choices (var_method) have none
    }


def load_settings(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base_file: Path | None = DEFAULT_CONFIG,
) -> Settings:
    """Merge the default file, the user's file and the environment, then validate once.

    Each layer is validated on its own first so that an error names the layer (file or
    variable) it came from.
    """
    merged: dict[str, Any] = {}
    layers: list[tuple[str, dict[str, Any]]] = []
    if base_file is not None and base_file.exists():
        layers.append((str(base_file), _read_toml(base_file)))
        strategies_file = base_file.with_name(DEFAULT_STRATEGIES.name)
        if strategies_file.exists():
            layers.append((str(strategies_file), {"strategies": _read_toml(strategies_file)}))
    if config_file is not None:
        layers.append((str(config_file), _read_toml(config_file)))
    env_layer = _env_layer(os.environ if environ is None else environ)
    layers.extend(env_layer)
    for origin, layer in layers:
        candidate = _deep_merge(merged, layer)
        _validate(candidate, origin, layer)
        merged = candidate
    return _validate(merged, "settings", merged)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _env_layer(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name in sorted(environ):
        where = env_key(name)
        if where is None:
            continue
        section, key = where
        out.append((f"environment {name}", {section: {key: env_value(environ[name])}}))
    return out


_WHOLE_TABLES = frozenset({"exit"})
"""Tables a later layer replaces whole: an exit policy is one rule (a user's ``stop = "none"``
must not inherit the shipped ``stop_value`` or ``target_r``)."""


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _WHOLE_TABLES:
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], origin: str, layer: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(origin, exc, layer)) from None


def _expected_key(given: str, names: list[str]) -> str:
    """The likeliest intended key when there is one (a typo), else every key of the section."""
    close = difflib.get_close_matches(given, names, n=1, cutoff=0.75)
    if close:
        return f"{close[0]} (a key of this section)"
    return f"a key among {', '.join(names)}"


def _one_line(origin: str, exc: ValidationError, layer: dict[str, Any]) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]" if loc else "(root)"
    kind = err["type"]
    if kind == "extra_forbidden":
        section_model = Settings.model_fields.get(loc[0]) if loc else None
        if len(loc) == 1 or section_model is None:
            expected = f"a section among {', '.join(Settings.model_fields)}"
        else:
            annotation = section_model.annotation
            names = (
                list(annotation.model_fields)
                if isinstance(annotation, type) and issubclass(annotation, BaseModel)
                else []
            )
            expected = _expected_key(loc[-1], names)
        return f"{origin}: unknown key {key}; expected {expected}"
    msg = str(err["msg"])
    if kind == "value_error":
        return f"{origin}: {key}: {msg.removeprefix('Value error, ')}"
    return f"{origin}: {key}: {msg} (got {redact_urls(repr(err.get('input')))})"  # a webhook URL is a secret


def fractional_allowed(settings: Settings, wanted: bool) -> bool:
    """Whether quantities may be fractional: only where the config asks for it (``wanted``) and the
    broker takes it: the paper broker with ``[broker] allow_fractional``; IBKR never (its API does
    not take fractional share orders). Everywhere else quantities are whole shares."""
    b = settings.broker
    return wanted and b.kind == "paper" and b.allow_fractional
