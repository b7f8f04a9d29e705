"""The cyclic garbage collector and a paced engine's long-lived heap.

Once a paced engine has started, most of the heap lives as long as the engine: the modules, the
compiled kernels, every symbol's bars, the stores and the wiring (about 240,000 tracked objects at
500 symbols). CPython's full (generation 2) collection walks all of them each time it runs, with
the interpreter lock held, whichever thread triggers it: measured at 500 symbols on a busy 2-core
machine, 270-850 ms a collection, the largest single stall of the feed at a session start (the
card scan's allocations are what trigger them; issue 18).

``settle`` collects once, before the feed runs, and moves the survivors to the permanent
generation (``gc.freeze``): later collections walk only what was allocated since. Frozen objects
are still freed by reference counting; only a reference cycle among them would wait, so
``release`` (on stop) hands them back to the collector, and an engine stopped and started again
in one process (the console's restart) leaks nothing.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect, then keep the survivors out of every later collection (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """Give the frozen objects back to the collector (``gc.unfreeze``): the next full collection
    frees whatever of the stopped engine only a reference cycle kept."""
    gc.unfreeze()
