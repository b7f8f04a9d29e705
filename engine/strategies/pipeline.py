"""The card pipeline's two shared steps: the session's scan on bars strictly before it, and the
``Book`` sizing and the checks see. The running engine (``engine.runtime.cards``) and the
headless ``onetap cards`` (``engine.api.card_report``) both call these, so they cannot drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import Settings, fractional_allowed
from engine.model.instruments import InstrumentSpec
from engine.strategies.book import Book
from engine.strategies.book import Limits as BookLimits
from engine.strategies.policy import enabled_templates, template_params
from engine.strategies.scan import BOOK_DAYS, Scan, ScanProgress, scan
from engine.strategies.templates.base import Bars, Template


@dataclass(frozen=True, slots=True)
class Liquidity:
    """What the book reads of the session's history: average daily volume (shares, value) and the
    last ``BOOK_DAYS`` daily returns per symbol. It changes once a session, so the engine computes
    it with the scan (off its event loop), not at every re-size."""

    adv_shares: Mapping[str, float]
    adv_value: Mapping[str, float]
    returns: Mapping[str, np.ndarray]


def liquidity(histories: Mapping[str, pd.DataFrame]) -> Liquidity:
    adv_shares: dict[str, float] = {}
    adv_value: dict[str, float] = {}
    returns: dict[str, np.ndarray] = {}
    for sym, df in histories.items():
        tail = df.tail(20)
        if len(tail) and float(tail["volume"].max()) > 0:  # no volume known: no liquidity limit
            adv_shares[sym] = float(tail["volume"].mean())
            adv_value[sym] = float((tail["close"] * tail["volume"]).mean())
        close = df["close"].to_numpy(dtype=float)[-(BOOK_DAYS + 1) :]
        if len(close) == BOOK_DAYS + 1:
            returns[sym] = close[1:] / close[:-1] - 1.0
    return Liquidity(adv_shares, adv_value, returns)


def card_book(
    settings: Settings,
    histories: Mapping[str, pd.DataFrame],
    *,
    equity: float,
    cash: float,
    positions: Mapping[str, float],
    prices: Mapping[str, float],
    working_symbols: frozenset[str] = frozenset(),
    can_trade_options: bool = True,
    known: Liquidity | None = None,
    specs: Mapping[str, InstrumentSpec] | None = None,
) -> Book:
    """What the generator sizes and checks against: the account, the limits, liquidity and returns
    (``known``: the session's ``liquidity(histories)``, already computed)."""
    liq = known if known is not None else liquidity(histories)
    r, b = settings.risk, settings.broker
    return Book(
        equity=equity,
        cash=cash,
        positions=dict(positions),
        prices=dict(prices),
        sectors=settings.universe.sectors,
        limits=BookLimits(
            max_position_pct=r.max_position_pct,
            max_sector_pct=r.max_sector_pct,
            max_order_value=r.max_order_value,
            gross_exposure_limit=r.gross_exposure_limit,
            max_adv_share=settings.cards.max_adv_share,
        ),
        adv_shares=liq.adv_shares,
        adv_value=liq.adv_value,
        working_symbols=working_symbols,
        allow_short=b.allow_short,
        allow_fractional=fractional_allowed(settings, settings.cards.fractional),
        broker_fractional=fractional_allowed(settings, True),
        can_trade_options=can_trade_options,
        returns=liq.returns,
        specs=dict(specs or {}),
        account_currency=r.account_currency,
    )


def scan_histories(
    settings: Settings,
    histories: Mapping[str, pd.DataFrame],
    progress: ScanProgress | None = None,
    benchmark: pd.DataFrame | None = None,
    extra: Sequence[Template] = (),
    *,
    keep: bool = False,
) -> Scan:
    """The session's scan (setups, track records, calibration) on bars strictly before it;
    ``benchmark``: the benchmark's bars before it too (meta-labelled confidence reads its state);
    ``extra``: templates built above this layer (the ``rl`` template, ``engine.rl.live``);
    ``keep``: keep every setup and its past trades (``scan(..., keep=True)``)."""
    panel = {sym: Bars.from_frame(sym, df) for sym, df in histories.items() if len(df)}
    templates = [*enabled_templates(settings), *extra]
    bench = None if benchmark is None or not len(benchmark) else Bars.from_frame("benchmark", benchmark)
    return scan(
        panel,
        templates,
        template_params(settings),
        settings.cards.calibration,
        progress,
        meta=settings.cards.meta_label,
        benchmark=bench,
        keep=keep,
    )
