"""A loopback TWS API server: real TWS clients (ib_insync, ib_async, ibapi) talk to a simulated broker.

Public surface: ``TwsSimulator`` and ``SimulatorConfig`` (server), ``run_in_thread`` (its own loop
on a thread, for blocking clients in tests), ``Universe``/``Listing`` (what can be traded),
``CommissionSchedule``, and ``cli.main`` for ``onetap tws-sim``. The protocol notes are in
``shared/TWS_PROTOCOL_NOTES.md``.
"""

from engine.brokers.tws_sim.commission import CommissionSchedule
from engine.brokers.tws_sim.contracts import ContractSpec, Listing, Universe
from engine.brokers.tws_sim.server import SimulatorConfig, TwsSimulator, run_in_thread

__all__ = [
    "CommissionSchedule",
    "ContractSpec",
    "Listing",
    "SimulatorConfig",
    "TwsSimulator",
    "Universe",
    "run_in_thread",
]
