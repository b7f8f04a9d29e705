"""The risk gauges: each limit as a horizontal bar, coloured by how much of it is used.

Every figure in ``RiskState`` is a fraction (of equity, or of start-of-day equity for the
day's loss) compared with a configured fractional limit, so all gauges read in percent.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.widgets.fmt import utilisation_style
from engine.model import RiskState, TradingState

LABEL_WIDTH = 10
FIGURES_WIDTH = 17
STATE_STYLE = {
    TradingState.ACTIVE: "bold green",
    TradingState.REDUCING: "bold yellow",
    TradingState.HALTED: "bold white on red",
}


class RiskGauges(Widget):
    """Assign ``risk``; the gauges are drawn to the pane's width."""

    risk: reactive[RiskState | None] = reactive(None, init=False)

    def on_mount(self) -> None:
        self.border_title = "Risk"

    def render(self) -> Text:
        risk = self.risk
        if risk is None:
            return Text("waiting for the engine's risk state", style="dim")
        width = max(self.content_size.width, 20)
        roomy = self.content_size.height >= 2 * 5
        lines = [_state_line(risk)]
        for label, value, limit, decimals in (
            ("Gross", risk.gross_exposure, risk.gross_limit, 1),
            ("Day loss", risk.day_loss, risk.day_loss_limit, 2),
            ("Drawdown", risk.drawdown, risk.drawdown_limit, 2),
            ("VaR 95%", risk.var_95, risk.var_limit, 2),
        ):
            if roomy:
                lines.append(Text())
            lines.append(gauge(label, value, limit, width, decimals))
        return Text("\n").join(lines)


def _state_line(risk: RiskState) -> Text:
    line = Text("Trading".ljust(LABEL_WIDTH), style="dim")
    line.append(f" {risk.trading_state.value} ", style=STATE_STYLE.get(risk.trading_state, "bold"))
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
    line.append(figures.rjust(FIGURES_WIDTH), style=style if used >= 0.6 else "")
    return line
