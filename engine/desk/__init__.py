"""The engine's portfolio desk: the autopilot, the rebalance preview, tax lots and harvest cards.

These are the finished pieces of ``engine.portfolio`` (which knows no engine, broker or store)
wired to a running ``Engine``: its clock, risk state, quotes, ledger, store and group execution.
``PortfolioDesk`` is the one object the engine holds.
"""

from engine.desk.desk import PortfolioDesk

__all__ = ["PortfolioDesk"]
