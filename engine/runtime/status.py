"""The status line's facts: broker, mode, feed, session, and the broker link as last reported."""

from __future__ import annotations

from datetime import date

from engine.brokers.base import Broker, BrokerLink
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.data.feed import MarketFeed
from engine.model.events import StatusEvent
from engine.runtime.history_panel import HistoryPanel
from engine.runtime.market_view import MarketView


class StatusBoard:
    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker,
        feed: MarketFeed,
        clock: Clock,
        bus: EventBus,
        paced: bool,
        market: MarketView | None = None,
        replay: bool = False,
    ) -> None:
        """``replay``: the engine plays a session recording (the console offers its controls)."""
        self._settings = settings
        self._broker = broker
        self._feed = feed
        self._clock = clock
        self._bus = bus
        self._paced = paced
        self._market = market
        self._replay = replay
        self.link: BrokerLink | None = None
        self._closes: tuple[date, dict[str, float]] | None = None
        self._panel = market.panel if market is not None else HistoryPanel(feed)
        """The previous closes come from the panel's arrays, not a DataFrame slice per symbol."""

    def on_link(self, link: BrokerLink) -> None:
        self.link = link
        self.publish()

    def event(self) -> StatusEvent:
        day = self._feed.current_day
        broker = self._broker
        if broker.simulated:
            feed = "ended" if self._feed.finished else ("paused" if not self._paced else "running")
        else:
            feed = "live"
        link = self.link
        return StatusEvent(
            ts=self._clock.now(),
            broker=broker.name,
            mode="replay"
            if self._replay
            else ("live" if broker.live else "paper") + (" read-only" if broker.read_only else ""),
            feed=feed,
            session_day=day.isoformat() if day else "",
            speed=self._settings.replay.seconds_per_day,
            link=link.state if link else "",
            server_version=link.server_version if link else 0,
            account=link.account if link else "",
            data_type=link.data_type if link else "",
            heartbeat=link.last_heartbeat if link else None,
            link_detail=link.detail if link else "",
            live_acknowledged=link.live_acknowledged if link else True,
            broker_equity=link.net_liquidation if link else 0.0,
            buying_power=link.buying_power if link else 0.0,
            data_health=self.data_health(),
            closes=self._previous_closes(day),
        )

    def data_health(self) -> str:
        """One line for the desk: "ok", or which symbols' quotes are held out or stale and why."""
        if self._market is None:
            return ""
        problems = self._market.quote_problems()
        if not problems:
            return "ok"
        shown = "; ".join(why for _, why in list(problems.values())[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return f"{len(problems)} symbol(s) held out: {shown}{more}"

    def _previous_closes(self, day: date | None) -> dict[str, float]:
        """Each symbol's last close before ``day``, looked up once a session."""
        if day is None:
            return {}
        if self._closes is None or self._closes[0] != day:
            closes: dict[str, float] = {}
            for symbol in sorted(
                {
                    *self._settings.universe.symbols,
                    self._settings.universe.benchmark,
                    *self._feed.latest_quotes(),
                }
            ):
                try:
                    close = self._panel.last_close(symbol, day)
                except KeyError:  # a symbol quoted without bars (a live feed's extra): no base
                    continue
                if close is not None:
                    closes[symbol] = close
            self._closes = (day, closes)
        return dict(self._closes[1])

    def publish(self) -> None:
        self._bus.publish(self.event())
