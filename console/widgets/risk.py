"""The risk gauges: each limit as a horizontal bar, coloured by how much of it is used.

Every figure in ``RiskState`` is a fraction (of equity, or of start-of-day equity for the
day's loss) compared with a configured fractional limit, so all gauges read in percent.
A gauge is green inside its limit, amber from ``UTILISATION_WARN`` of it and red at or past
it; the colour is the data, so it is set here rather than in app.tcss.

Above the gauges, the trading state (ACTIVE / REDUCING / RECOVERING / HALTED) with the kill switch's
level, and under them the strategies a breaker paused: the three things an operator must
see before pressing a key that sends orders.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.widgets.fmt import UTILISATION_WARN, WARN, utilisation_style
from engine.model import RiskState, TradingState

LABEL_WIDTH = 10
FIGURES_WIDTH = 17
GAUGES = 4
STATE_STYLE = {
    TradingState.ACTIVE: "bold green",
    TradingState.REDUCING: "bold black on yellow",
    TradingState.RECOVERING: "bold black on yellow",
    TradingState.HALTED: "bold white on red",
}
KILL_LABEL = {1: "kill switch", 2: "flattening"}
"""What each kill level adds to HALTED: level 1 cancelled the orders, level 2 also closes positions."""


class RiskGauges(Widget):
    """Assign ``risk``; the gauges are drawn to the pane's width."""

    risk: reactive[RiskState | None] = reactive(None, init=False)

    def __init__(self, *, detail_key: str = "v", limits_key: str = "L", id: str | None = None) -> None:
        """The keys are named in the pane's subtitle: the footer has no room for the limits key."""
        super().__init__(id=id)
        self._hint = f"{detail_key} detail · {limits_key} limits"

    def on_mount(self) -> None:
        self.border_title = "Risk"
        self.border_subtitle = self._hint

    def render(self) -> Text:
        risk = self.risk
        if risk is None:
            return Text("waiting for the engine's risk state", style="dim")
        width = max(self.content_size.width, 20)
        paused = [paused_line(risk.paused_strategies, width)] if risk.paused_strategies else []
        roomy = self.content_size.height >= 2 * (1 + GAUGES + len(paused))  # a blank line between rows
        lines = [state_line(risk)]
        for label, value, limit, decimals in (
            ("Gross", risk.gross_exposure, risk.gross_limit, 1),
            ("Day loss", risk.day_loss, risk.day_loss_limit, 2),
            ("Drawdown", risk.drawdown, risk.drawdown_limit, 2),
            ("VaR 95%", risk.var_95, risk.var_limit, 2),
        ):
            if roomy:
                lines.append(Text())
            lines.append(gauge(label, value, limit, width, decimals))
        if paused and roomy:
            lines.append(Text())
        return Text("\n").join(lines + paused)


def state_label(risk: RiskState) -> str:
    """``ACTIVE``, ``REDUCING``, ``HALTED``, with the kill level when one is engaged
    (``HALTED · flattening`` while level 2 closes every position)."""
    label = risk.trading_state.value
    if risk.kill_level > 0:
        label += f" · {KILL_LABEL.get(risk.kill_level, f'kill level {risk.kill_level}')}"
    return label


def state_line(risk: RiskState) -> Text:
    line = Text("Trading".ljust(LABEL_WIDTH), style="dim")
    line.append(f" {state_label(risk)} ", style=STATE_STYLE.get(risk.trading_state, "bold"))
    return line


def paused_line(paused: tuple[str, ...], width: int) -> Text:
    """The paused strategies, amber: their cards are refused until the operator resumes them (``v``)."""
    line = Text("Paused".ljust(LABEL_WIDTH), style="dim", no_wrap=True, overflow="ellipsis")
    line.append(", ".join(paused), style=f"bold {WARN}")
    line.truncate(width, overflow="ellipsis")
    return line


def gauge(label: str, value: float, limit: float, width: int, decimals: int = 2) -> Text:
    """``label  ████░░░░  value / limit``; a zero limit reads as fully used whenever value > 0."""
    used = value / limit if limit > 0 else (1.0 if value > 0 else 0.0)
    bar_width = max(width - LABEL_WIDTH - FIGURES_WIDTH, 4)
    filled = round(min(max(used, 0.0), 1.0) * bar_width)
    style = utilisation_style(used)
    line = Text(label.ljust(LABEL_WIDTH), style="dim")
    line.append("█" * filled, style=style)
    line.append("░" * (bar_width - filled), style="bright_black")
    figures = f"{value:.{decimals}%} / {limit:.{decimals}%}"
    line.append(figures.rjust(FIGURES_WIDTH), style=style if used >= UTILISATION_WARN else "")
    return line
