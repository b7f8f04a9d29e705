"""Fault injection: what a test can do to the simulator from any thread.

``FaultState`` is read by the connections on the simulator's loop; ``Faults`` changes it through
the simulator's thread-safe ``call`` so a test on another thread never races the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.brokers.tws_sim.server import TwsSimulator

CONNECTIVITY_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


@dataclass
class FaultState:
    """Faults in force; ``stalled_until`` is in the loop's ``time()``."""

    latency: float = 0.0
    stalled_until: float = 0.0
    rollback_next_id: int = 0
    denied_market_data: set[str] = field(default_factory=set)


class Faults:
    """The handle tests use: ``sim.faults.drop_connections()``, ``.stall(2.0)``, ..."""

    def __init__(self, sim: TwsSimulator) -> None:
        self._sim = sim
        self.state = FaultState()

    def drop_connections(self) -> None:
        """Close every client socket now; orders stay at the exchange and keep working."""
        self._sim.call(self._sim.drop_all)

    def stall(self, seconds: float) -> None:
        """Stop reading requests and writing messages on every connection for ``seconds``."""

        def apply() -> None:
            self.state.stalled_until = self._sim.loop_time() + seconds

        self._sim.call(apply)

    def reject_next_order(self, reason: str) -> None:
        """The next new order (any client) is rejected with 201 ``Order rejected - reason:<reason>``."""

        def apply() -> None:
            self._sim.exchange.reject_next = reason

        self._sim.call(apply)

    def roll_back_next_id(self, by: int) -> None:
        """The next handshake reports nextValidId ``by`` lower than the true one (one shot)."""

        def apply() -> None:
            self.state.rollback_next_id = by

        self._sim.call(apply)

    def set_latency(self, seconds: float) -> None:
        """Delay every outgoing message by ``seconds`` (order kept); 0 turns it off."""

        def apply() -> None:
            self.state.latency = max(0.0, seconds)

        self._sim.call(apply)

    def connectivity(self, code: int) -> None:
        """Send notice 1100 (lost), 1101 (restored, data lost) or 1102 (restored, data kept) to all."""
        if code not in CONNECTIVITY_TEXT:
            raise ValueError(f"connectivity code must be one of {sorted(CONNECTIVITY_TEXT)}, got {code}")
        self._sim.call(self._sim.broadcast_error, -1, code, CONNECTIVITY_TEXT[code])

    def deny_market_data(self, symbol: str) -> None:
        """reqMktData (live) for ``symbol`` answers 354 "not subscribed"."""
        self._sim.call(self.state.denied_market_data.add, symbol)
