"""The execution strip under the cards: how the card just executed is getting on, leg by leg.

``x`` answers at once with the engine's confirmation; what follows (an algo working for
minutes, a leg rejected and the others unwound) arrives as ``ExecutionEvent``s, and this strip
shows the newest execution's status and each leg as ``BUY 34 AAPL 20/34 @ 410.12 WORKING``.
It stays on the last execution until the next one begins, so a FAILED or ROLLED_BACK outcome
is still there when the operator looks up from the toast. Two to three lines at most: the
whole story is on the execution report (``e``).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.state import FAILED_EXECUTION
from console.widgets.fmt import GAIN, LOSS, WARN, ny_time, price, qty
from engine.model import Algo, ExecutionStatus, Side
from engine.model.events import ExecutionEvent, LegProgress

WIDE = 60
"""Below this width a leg is written short (no price, no algo) so one fits a line."""
MAX_LINES = 3
"""The strip must leave the cards on an 80x24 desk visible; the report (``e``) has the rest."""
LEG_GAP = "   "
EXECUTION_STYLE = {
    ExecutionStatus.PENDING: "bold",
    ExecutionStatus.EXECUTING: "bold cyan",
    ExecutionStatus.COMPLETED: f"bold {GAIN}",
    ExecutionStatus.FAILED: f"bold white on {LOSS}",
    ExecutionStatus.ROLLED_BACK: f"bold white on {LOSS}",
}
LEG_STYLE = {
    "PENDING": "dim",
    "WORKING": "cyan",
    "FILLED": f"bold {GAIN}",
    "CANCELLED": "dim",
    "REJECTED": f"bold {LOSS}",
    "UNWINDING": f"bold {WARN}",
    "UNWOUND": WARN,
}


def leg_text(leg: LegProgress, *, compact: bool = False) -> Text:
    """``BUY 34 AAPL 20/34 @ 410.12 WORKING``, with the algo when the leg is not sent at once.

    ``compact`` (a narrow strip): ``BUY AAPL 20/34 WORKING``, the quantity once and no price.
    """
    text = Text(f"{leg.side} ", style=GAIN if leg.side is Side.BUY else LOSS)
    text.append(leg.symbol if compact else f"{qty(leg.quantity)} {leg.symbol}", style="bold")
    text.append(f" {qty(leg.filled)}/{qty(leg.quantity)}")
    if leg.avg_price is not None and not compact:
        text.append(f" @ {price(leg.avg_price, leg.symbol)}")
    text.append(f" {leg.status}", style=LEG_STYLE.get(leg.status, "bold"))
    if leg.algo and leg.algo != Algo.IMMEDIATE and not compact:
        text.append(f" ({leg.algo})", style="dim")
    return text


def outcome_text(execution: ExecutionEvent) -> str:
    """What happened, in words, for the toast: the engine's message and each leg's end state."""
    lines = [execution.message or f"{execution.name}: {execution.status}"]
    lines += [leg_text(leg).plain for leg in execution.legs]
    return "\n".join(lines)


class ExecutionProgress(Static):
    """Assign ``execution``; hidden until the first one, then drawn to the strip's width."""

    execution: reactive[ExecutionEvent | None] = reactive(None, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.display = False

    def watch_execution(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        execution = self.execution
        self.display = execution is not None
        if execution is None:
            return
        self.set_class(execution.status in FAILED_EXECUTION, "-failed")
        self.set_class(execution.status is ExecutionStatus.COMPLETED, "-completed")
        width = self.content_size.width or self.size.width or 80
        self.update(progress_text(execution, width))


def progress_text(execution: ExecutionEvent, width: int) -> Text:
    """The status first (it must survive the narrowest strip), the card and the time, the engine's
    message (a failure's on a line of its own when it does not fit beside them), then the legs in
    what is left of ``MAX_LINES``, side by side where they fit, the rest counted. A completed
    execution gives its legs one line: it needs no watching, and the cards get the room back."""
    header = Text(f" {execution.status} ", style=EXECUTION_STYLE.get(execution.status, "bold"))
    header.append(f" {execution.name}", style="bold")
    header.append(f"  {ny_time(execution.ts)}", style="dim")
    lines = [header]
    failed = execution.status in FAILED_EXECUTION
    if execution.message:
        if header.cell_len + 2 + cell_len(execution.message) <= width:
            header.append(f"  {execution.message}")
        elif failed:  # what went wrong is worth a line; a success's remark is not
            lines.append(Text(execution.message))
    for line in lines:
        line.no_wrap, line.overflow = True, "ellipsis"
        line.truncate(width, overflow="ellipsis")
    compact = width < WIDE
    legs = [leg_text(leg, compact=compact) for leg in execution.legs]
    room = 1 if execution.status is ExecutionStatus.COMPLETED else max(MAX_LINES - len(lines), 1)
    return Text("\n").join([*lines, *_pack(legs, width, room)])


def _pack(legs: list[Text], width: int, max_lines: int) -> list[Text]:
    """Legs side by side while they fit; what does not fit is counted on the last line."""
    lines: list[Text] = []
    index = 0
    while index < len(legs) and len(lines) < max_lines:
        line = legs[index].copy()
        index += 1
        while index < len(legs) and line.cell_len + len(LEG_GAP) + legs[index].cell_len <= width:
            line.append(LEG_GAP)
            line.append_text(legs[index])
            index += 1
        lines.append(line)
    if index < len(legs) and lines:
        more = Text(f"{LEG_GAP}+{len(legs) - index} more (e)", style="dim")
        last = lines[-1]
        last.truncate(max(width - more.cell_len, 0), overflow="ellipsis")
        last.append_text(more)
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return lines
