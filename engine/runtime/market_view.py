"""``MarketView``: the engine's one picture of prices and history, and of the cash it may spend.

Risk checks, sizing, cards, the autopilot and reports all ask here, so "the price of X now" and
"the cash a buy may use" have one definition: the last trade, else the last close; options at
the broker's model where it has one; cash capped by the broker's settlement rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.brokers.base import Broker, DepthSnapshot
from engine.clock import Clock
from engine.config import Settings
from engine.data.calendar import NEW_YORK
from engine.data.feed import MarketFeed
from engine.data.loader import MarketData
from engine.data.quote_quality import QuoteChecks, QuoteFlag, QuoteGuard
from engine.data.recording import RecordingFeed
from engine.model import AssetClass, Quote, RefusalCode, is_option_symbol
from engine.model.quote_batch import QuoteBatch
from engine.portfolio.ledger import Ledger
from engine.runtime.history_panel import HistoryPanel
from engine.runtime.order_flow import OrderFlowBook
from engine.signals.indicators import rolling_volatility

OPTION_VOL_DAYS = 20
"""Options are priced (paper broker quotes, risk report Greeks) at the underlying's realized
volatility over this many daily returns before today, as the options template prices its cards."""


class MarketView:
    def __init__(
        self,
        settings: Settings,
        *,
        feed: MarketFeed,
        market: MarketData,
        broker: Broker,
        ledger: Ledger,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self.feed = feed
        self.market = market
        self._broker = broker
        self._ledger = ledger
        self._clock = clock
        self.panel = HistoryPanel(feed)
        """Every symbol's closes and returns as arrays: "the history before today" without
        slicing a DataFrame per symbol at each session start (``engine.runtime.history_panel``)."""
        self._session_hours: tuple[date, tuple[datetime, datetime] | None] | None = None
        """The New York date and its regular session's open and close, looked up once a day."""
        self.option_vols: dict[str, float] = {}
        """underlying -> annualised volatility options on it are priced at today (set each day start)."""
        q = settings.quotes
        self.quotes = QuoteGuard(
            QuoteChecks(
                spike_deviations=q.spike_deviations,
                spike_history=q.spike_history,
                spike_floor_bps=q.spike_floor_bps,
                max_lag_s=q.max_lag_s,
                locked_is_bad=q.locked_is_bad,
            ),
            no_book=(s for s, i in market.instruments.items() if i.asset_class is AssetClass.INDEX),
        )
        """Every quote passes here first: a bad one never marks, signals or fills."""
        self.flow = OrderFlowBook(sizes_invented=broker.simulated)
        """Order-flow features of the good quotes (the session driver feeds it each step)."""
        self.depth_taps: list[Callable[[DepthSnapshot], None]] = []
        """Who else sees each depth snapshot before the flow book does (the session recorder)."""
        broker.set_depth_sink(self.on_depth)  # IBKR's depth_symbols; paper has none
        if isinstance(feed, RecordingFeed):  # a replay: the recorded depth, in its place
            feed.on_depth = lambda d: self.on_depth(DepthSnapshot(d.symbol, d.bid_sizes, d.ask_sizes))

    def on_depth(self, snapshot: DepthSnapshot) -> None:
        for tap in self.depth_taps:
            tap(snapshot)
        self.flow.on_depth_snapshot(snapshot)

    # ------------------------------------------------------------------ time
    def session_day(self) -> date | None:
        """The session in progress, else the next one (None past the data's end)."""
        return self.feed.current_day or self.feed.next_day()

    def vol_day(self) -> date:
        """The session whose volatility applies now: the one in progress or next; after the last,
        the day after it (its whole history is known)."""
        day = self.session_day()
        return day if day is not None else self.feed.sessions[-1] + timedelta(days=1)

    def market_open(self) -> bool:
        """Within the XNYS regular session by the engine's clock (the replay's market time)."""
        from engine.data.calendar import is_session, session_open_close

        now = self._clock.now()
        day = now.astimezone(NEW_YORK).date()
        if self._session_hours is None or self._session_hours[0] != day:
            self._session_hours = (day, session_open_close(day) if is_session(day) else None)
        hours = self._session_hours[1]
        return hours is not None and hours[0] <= now <= hours[1]

    # ------------------------------------------------------------------ prices
    def screen(self, quotes: QuoteBatch) -> tuple[QuoteBatch, tuple[QuoteFlag, ...]]:
        """The good quotes of a step, and the flags of those held out (``QuoteGuard``)."""
        return self.quotes.screen(quotes, self._clock.now())

    def latest_quotes(self) -> dict[str, Quote]:
        """Each symbol's last good quote (a held-out quote never shows here)."""
        return self.quotes.latest()

    def quote_problems(self) -> dict[str, tuple[RefusalCode, str]]:
        """symbol -> (refusal code, why) for symbols orders must not be sent on: the latest quote
        held out, or (a live feed, the exchange in session) no good quote for ``[quotes] stale_s``."""
        out = {s: (RefusalCode.BAD_QUOTE, f.describe()) for s, f in self.quotes.held_out().items()}
        if not self._broker.simulated and self.market_open():
            stale = self.quotes.stale(
                self._clock.now(), self._settings.quotes.stale_s, self._settings.universe.symbols
            )
            for symbol, age in stale.items():
                if symbol not in out:
                    seen = "no quote yet" if math.isinf(age) else f"last good quote {age:.0f} s ago"
                    out[symbol] = (RefusalCode.STALE_QUOTE, f"{symbol} stale: {seen}")
        return out

    def conversions(self) -> tuple[dict[str, float], dict[str, tuple[RefusalCode, str]]]:
        """For each universe instrument in a currency other than ``[risk] account_currency``: its
        rate into the account currency (symbol -> rate) from the latest good quote of the pair,
        or why there is none fit to use (FX_RATE_STALE / FX_RATE_MISSING; ``engine.model.fx``)."""
        from engine.model.fx import RateRefused, conversion_rate
        from engine.runtime.day_roll import MarketRates

        account = self._settings.risk.account_currency
        rates: dict[str, float] = {}
        problems: dict[str, tuple[RefusalCode, str]] = {}
        foreign = [(s, i.currency) for s, i in self.market.instruments.items() if i.currency != account]
        if not foreign:
            return rates, problems
        marks, now, max_age = (
            MarketRates(self.latest_quotes),
            self._clock.now(),
            self._settings.risk.fx_rate_max_age_s,
        )
        for symbol, currency in foreign:
            try:
                rates[symbol] = conversion_rate(currency, account, marks, now, max_age).rate
            except RateRefused as refused:
                problems[symbol] = (refused.code, refused.reason)
        return rates, problems

    def stale_symbols(self) -> tuple[str, ...]:
        return tuple(
            sorted(s for s, (code, _) in self.quote_problems().items() if code is RefusalCode.STALE_QUOTE)
        )

    def history(self, symbol: str) -> pd.DataFrame:
        day = self.session_day() or self._settings.replay.start_date
        return self.feed.history(symbol, before=day)

    def prices(self, options: Iterable[str] = ()) -> dict[str, float]:
        """symbol -> the price risk checks and sizing use: the last trade, else the last close.

        Options are at the broker's model price: every one held or worked, and those named in
        ``options`` (about to be ordered); a held one it cannot price now (no quote of its
        underlying yet after a restart) keeps the ledger's last mark.
        """
        prices = {sym: q.last for sym, q in self.quotes.latest().items()}
        day = self.session_day() or self._settings.replay.start_date
        for sym in self._settings.universe.symbols:
            if sym not in prices:
                close = self.panel.last_close(sym, day)
                if close is not None:
                    prices[sym] = close
        prices.update(self._broker.option_marks())
        for sym in options:
            quote = self._broker.option_quote(sym) if sym not in prices else None
            if quote is not None:
                prices[sym] = quote.last
        for pos in self._ledger.positions(include_flat=False):
            if pos.symbol not in prices and is_option_symbol(pos.symbol) and pos.last > 0:
                prices[pos.symbol] = pos.last
        return prices

    def arrival_price(self, symbol: str) -> float | None:
        """The mid when an order is decided: the feed's quote, or for an option the broker's model quote."""
        quote = self.quotes.latest().get(symbol)
        if quote is None and is_option_symbol(symbol):
            quote = self._broker.option_quote(symbol)
        return quote.mid if quote is not None else None

    def spendable_cash(self) -> float:
        """The ledger's cash, capped by what the broker says has settled (paper: T+1 is not cash yet)."""
        cash = self._ledger.account().cash
        settled = self._broker.settled_cash()
        return cash if settled is None else min(cash, settled)

    # ------------------------------------------------------------------ history-derived
    def daily_returns(self, window: int) -> dict[str, np.ndarray]:
        """Last ``window`` sessions of returns before today, per symbol (read-only views of the
        panel's arrays, cut once a session)."""
        day = self.session_day() or self._settings.replay.start_date
        u = self._settings.universe
        # a broker's history may lack one (IBKR: an index)
        symbols = [s for s in (*u.symbols, u.benchmark) if s in self.market.bars]
        return self.panel.returns(symbols, day, window)

    def set_option_vols(self, day: date) -> None:
        """Give every universe symbol's options today's volatility: the realized volatility of
        ``OPTION_VOL_DAYS`` daily returns before ``day`` (annualised). A symbol with too little
        history, or a gap in it, keeps the volatility it had (none: its options cannot trade)."""
        for sym in self._settings.universe.symbols:
            close = self.panel.closes_before(sym, day)
            if len(close) <= OPTION_VOL_DAYS:
                continue
            sigma = float(rolling_volatility(close[-(OPTION_VOL_DAYS + 1) :], OPTION_VOL_DAYS)[-1])
            if not math.isfinite(sigma):
                continue
            self._broker.set_option_volatility(sym, sigma)
            self.option_vols[sym] = sigma
