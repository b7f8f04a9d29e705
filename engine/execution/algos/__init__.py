"""Execution algos: a parent order worked through child orders on market time.

A card's leg with an ``Algo`` other than a plain order becomes a *parent* ``Order`` (``algo`` set)
that never reaches a broker. The ``AlgoRunner`` works it by sending *child* orders through an
injected ``send_child`` (the engine routes it through the pre-trade checks and the write-ahead
order manager, so every child is as persisted and as checked as a manual order) and cancels
them through an injected ``cancel``. It owns no broker, no store and no clock: time is the
timestamp of the quotes it is fed (``on_quote``) and of the child updates (``on_order``), so a
replay, a test and a live session run the same code, never sleep and never read the wall clock.

What each algo does (``AlgoParams`` holds the numbers):

* ``IMMEDIATE``: one child exactly as the leg says (market or limit); no participation cap.
* ``LIMIT_AT_MID``: a limit child at the mid, rounded to the tick on the passive side (a buy
  rounds down, a sell up, so the child never crosses the spread by rounding); every
  ``reprice_seconds`` of market time, if the mid moved, the working child is cancelled and a new
  one sent at the new mid (at most ``max_reprices`` times); at ``timeout_seconds`` the rest goes
  at market (``finish_at_market``) or the parent expires.
* ``TWAP``: ``slices`` children at equal intervals over ``window_seconds``; slice *k* brings the
  parent to ``(k + 1) / slices`` of its quantity, so the last slice catches any remainder.
* ``VWAP``: the same slices, sized by the expected share of the session's volume in each
  interval (``volume_weights``), so the parent trades more where the market trades more.

Order-flow timing (issue 20, ``flow_timing``; off by default): TWAP/VWAP hold a due slice (not
the last) while the quote imbalance leans against the parent, and LIMIT_AT_MID prices its child
at the far touch while the imbalance says the price is running away; see ``AlgoParams``.

Slices are *cumulative targets*: a slice sends what the parent still lacks to reach its target
(after cancelling the previous child if it is still working), so whatever a capped or unfilled
child left behind rolls into the next slice by construction, and a parent can never be
over-sent. The participation cap (every algo but ``IMMEDIATE``) limits each child to
``max_participation`` of the volume traded (quotes' ``last_size``) since the previous slice, or,
for the first child, during the interval before it: a child never asks for more than a fixed
share of what the market is actually trading. At the deadline the remainder is sent at market
(uncapped: the deadline is the point where finishing beats waiting) or the parent expires.

A parent has at most one working child at a time, which keeps cancelling simple and auditable:
``cancel_parent`` cancels that child and stops. A child that ends in a way the algo did not ask
for (rejected by risk or the broker, cancelled by the operator or the kill switch, expired at
the close) ends the parent too: retrying a refusal every slice would only feed the reject
breaker, and an operator's cancel means stop.

The package, one module per concern: ``callbacks`` (what the runner is given), ``quantities``
(share arithmetic), ``volume_profile`` (VWAP's expected volume), ``params`` (``AlgoParams``),
``pricing`` (the passive limit on the tick grid), ``flow`` (order-flow timing), ``work`` (a
parent's bookkeeping) and ``runner`` (``AlgoRunner``, which works parents with all of them).
"""

from engine.execution.algos.callbacks import CancelChild, ParentSink, SendChild, SessionHours, VolumeCurve
from engine.execution.algos.flow import flow_lean
from engine.execution.algos.params import AlgoParams
from engine.execution.algos.pricing import passive_price
from engine.execution.algos.quantities import EPS
from engine.execution.algos.runner import TAPE_SPAN, AlgoRunner
from engine.execution.algos.volume_profile import exchange_session, replay_volume_curve, volume_weights

__all__ = [
    "EPS",
    "TAPE_SPAN",
    "AlgoParams",
    "AlgoRunner",
    "CancelChild",
    "ParentSink",
    "SendChild",
    "SessionHours",
    "VolumeCurve",
    "exchange_session",
    "flow_lean",
    "passive_price",
    "replay_volume_curve",
    "volume_weights",
]
