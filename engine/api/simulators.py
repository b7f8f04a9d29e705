"""Entry points of the simulators the ``onetap`` command can run (imported only when asked for)."""

from __future__ import annotations


def tws_sim_main(argv: list[str]) -> int:
    """``onetap tws-sim``: the TWS API wire-protocol simulator, standalone."""
    from engine.brokers.tws_sim.cli import main

    return main(argv)
