"""How fresh the desk is: an attached console tells the operator when its engine is gone.

When the socket to a headless engine closes, the desk still shows the last prices, positions and
cards it received. They must not pass for live: ``LinkWatch`` keeps when data last arrived and
whether the link is down, and says so for the header ("DISCONNECTED · data 42 s old · retrying
in 4 s"). The clock is injected so a test can say exactly how old the data is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.client import LinkState


class LinkWatch:
    """The link's state and the age of the data, from ``LinkState`` changes and arriving events."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last_data_at: float | None = None
        self.down = False
        self.detail = ""
        self._retry_at: float | None = None

    def data(self) -> None:
        """An event arrived from the engine."""
        self.last_data_at = self._clock()

    def change(self, link: LinkState) -> None:
        self.down = not link.up
        self.detail = link.detail
        if link.up:
            self._retry_at = None
        elif link.retry_in is not None:
            self._retry_at = self._clock() + link.retry_in

    def header(self) -> str | None:
        """The header's warning while the link is down; None while it is up."""
        if not self.down:
            return None
        now = self._clock()
        parts = ["DISCONNECTED"]
        if self.last_data_at is not None:
            parts.append(f"data {now - self.last_data_at:.0f} s old")
        if self._retry_at is not None:
            parts.append(f"retrying in {max(0.0, self._retry_at - now):.0f} s")
        return " · ".join(parts)
