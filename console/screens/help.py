"""The help overlay (``?`` or F1): every key by pane and screen, and what each trading state means.

The keys are read from the real ``BINDINGS`` of the app, the screens and the panes, through the
app's keymap (``[hotkeys]``), so a remapped key or a new binding shows here without anyone
editing this file; ``tests/console/test_help.py`` checks that every screen and pane with keys is
listed. Escape or ``?`` closes it (the same binding id as the key that opened it, so a remapped
help key closes it too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.model import TradingState


@dataclass(frozen=True, slots=True)
class Section:
    """One heading of the help: a screen or pane, how it is reached, and the class whose keys it has."""

    title: str
    reached: str
    owner: type


def sections() -> tuple[Section, ...]:
    """Every screen and pane with keys, in the order a trader meets them (imported late: the
    screens import the app's widgets, and this module is imported by the app)."""
    from console.app import OneTapApp
    from console.screens.card_detail import CardDetailScreen
    from console.screens.confirm import ConfirmDialog
    from console.screens.desk import DeskScreen
    from console.screens.executions import ExecutionReportScreen
    from console.screens.limits import LimitsDialog
    from console.screens.live_ack import LiveAckDialog
    from console.screens.models import ModelsScreen
    from console.screens.modify import ModifyDialog
    from console.screens.portfolio import PortfolioScreen
    from console.screens.rebalance import RebalanceScreen
    from console.screens.reconciliation import ReconciliationDialog
    from console.screens.research import ResearchScreen
    from console.screens.resume import ResumeDialog
    from console.screens.risk_detail import RiskDetailScreen
    from console.screens.scoreboard import ScoreboardScreen
    from console.widgets.blotter import OrderBlotter
    from console.widgets.event_log import EventLogPane
    from console.widgets.risk_report import PausedList
    from console.widgets.table import SyncedTable

    return (
        Section("Everywhere", "on every screen and dialog", OneTapApp),
        Section("Desk", "the main screen", DeskScreen),
        Section("Tables", "cards, positions, orders, quotes, events", SyncedTable),
        Section("Orders pane", "the blotter, focused (tab)", OrderBlotter),
        Section("Event log", "beside the desk, or its key on a narrow terminal", EventLogPane),
        Section("Card detail", "Enter on a card", CardDetailScreen),
        Section("Risk detail", "the desk's risk key", RiskDetailScreen),
        Section("Paused strategies", "in the risk detail", PausedList),
        Section("Execution report", "the desk's executions key", ExecutionReportScreen),
        Section("Limits", "the desk's limits key", LimitsDialog),
        Section("Research", "the desk's research key", ResearchScreen),
        Section("Portfolio report", "the desk's portfolio key", PortfolioScreen),
        Section("Rebalance preview", "the desk's rebalance key", RebalanceScreen),
        Section("Forecast scoreboard", "the desk's scoreboard key", ScoreboardScreen),
        Section("Models", "the desk's models key", ModelsScreen),
        Section("Modify order", "the blotter's modify key", ModifyDialog),
        Section("Reconciliation", "after a start or reconnect, or the approve key", ReconciliationDialog),
        Section("Resume", "the resume key while HALTED", ResumeDialog),
        Section("Live account", "a live account not yet acknowledged", LiveAckDialog),
        Section("Confirmations", "flatten, cancel all, a duplicate order", ConfirmDialog),
    )


STATES: tuple[tuple[TradingState, str], ...] = (
    (TradingState.ACTIVE, "Trading normally: cards can be executed, orders pass the pre-trade risk checks."),
    (
        TradingState.REDUCING,
        "A drawdown breaker tripped: only orders that reduce risk (close or shrink a position) are "
        "accepted; nothing new is opened. It lifts when the drawdown recovers or the operator resumes.",
    ),
    (
        TradingState.RECOVERING,
        "After a start or a reconnect the engine compared its book with the broker's: new orders are "
        "refused until the operator reviews the reconciliation and approves it (a).",
    ),
    (
        TradingState.HALTED,
        "Every new order is refused. Kill level 1 (ctrl+k, or a circuit breaker): open orders "
        "cancelled, positions kept. Kill level 2 (F, flatten): also every position closed at market. "
        "Only the operator lifts it: R, then type RESUME.",
    ),
)


DETAILS: dict[str, str] = {
    "kill": "halt trading and cancel every open order, no confirmation (kill level 1)",
    "resume": "lift a halt: type RESUME (offered while HALTED)",
    "replay_pause": "run or pause the replayed recording (onetap replay --attach only)",
    "replay_step": "play one quote step of the recording, then stay paused",
    "replay_speed(2.0)": "replay twice as fast",
    "replay_speed(0.5)": "replay half as fast",
    "quit": "quit (an attached console leaves the headless engine running)",
    "execute": "execute the selected card through the risk checks",
    "card_detail": "the selected card's legs, levels, sizing and reason",
    "app.flatten": "kill level 2: halt, cancel, close every position at market (asks first)",
    "app.executions": "execution report: arrival, average fill, slippage, fill rate, time to fill",
    "app.risk_detail": "risk detail: VaR/CVaR, stress, correlation, Greeks, paused strategies",
    "app.limits": "view and change the [risk] limits (audited)",
    "app.cancel_all": "cancel every open order (asks first; trading is not halted)",
    "app.review_reconciliation": "the reconciliation summary (offered while one waits for approval)",
    "app.research": "backtest, walk-forward, permutation test, Monte Carlo of a template",
    "app.portfolio": "portfolio report: returns, drawdown, exposures, attribution",
    "app.models": "trained agents: which one trades, training curves, out-of-sample evaluation",
    "app.rebalance": "rebalance preview to the autopilot's targets",
    "app.scoreboard": "forecast scoreboard: each template's cards against what their trades did",
    "view('quotes')": "bid, ask, last, day change, spread, data health (narrow: in place of the panes)",
    "view('events')": "notices, refusals with codes, alerts, data problems, fills (narrow: as the quotes)",
    "cancel_order": "cancel the selected open order (an algo's parent: the whole algo)",
    "modify_order": "new quantity and/or limit of the selected working LMT order",
    "toggle_open": "open orders only, or all",
    "cycle_filter": "all, fills, refusals, alerts, data",
}
"""What a terse footer label means, keyed by action: the help has the room the footer has not."""


def key_display(app: App[object], binding: Binding, keys_by_id: Mapping[str, str]) -> str:
    """The key(s) a binding answers to now: the keymap's (``[hotkeys]``) where it has an id there."""
    keys = keys_by_id.get(binding.id, binding.key) if binding.id else binding.key
    shown = [app.get_key_display(Binding(key.strip(), binding.action)) for key in keys.split(",")]
    return " / ".join(shown)


def bindings_of(owner: type) -> list[Binding]:
    """The class's own BINDINGS (not its bases': those are Textual's own and the palette's)."""
    declared: list[BindingType] = list(owner.__dict__.get("BINDINGS", []))
    return [b if isinstance(b, Binding) else Binding(*b) for b in declared]


def help_text(app: App[object], keys_by_id: Mapping[str, str]) -> Text:
    """Everything the overlay says, as one text (tests read it the same way). ``keys_by_id``: the
    app's keymap (``console.keys.keymap``)."""
    out = Text()
    for section in sections():
        out.append(f"{section.title}", style="bold underline")
        out.append(f"  ({section.reached})\n", style="dim")
        rows = [(key_display(app, b, keys_by_id), _described(b)) for b in bindings_of(section.owner)]
        if section.title == "Everywhere":
            rows.append(("ctrl+p", "Command palette: every command by name"))
        width = max((len(k) for k, _ in rows), default=0)
        for key, description in rows:
            out.append(f"  {key:<{width}}", style="bold")
            out.append(f"  {description}\n")
        out.append("\n")
    out.append("Trading states", style="bold underline")
    out.append("  (the risk pane's first line; a banner unless ACTIVE)\n", style="dim")
    for state, meaning in STATES:
        out.append(f"  {state.value:<10}", style="bold")
        out.append(f"  {meaning}\n")
    return out


def _described(binding: Binding) -> str:
    label = binding.description or binding.action
    detail = DETAILS.get(binding.action)
    return f"{label}: {detail}" if detail else label


class HelpScreen(ModalScreen[None]):
    """A scrollable overlay above whatever screen was open; the kill switch still works above it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark,f1", "close", "Close", id="onetap.help"),
    ]

    def __init__(self, keys_by_id: Mapping[str, str]) -> None:
        super().__init__(id="help-screen")
        self._keys_by_id = keys_by_id

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys and states · ? or Escape closes · ↑↓ scroll", id="help-title", markup=False)
            with VerticalScroll(id="help-body"):
                yield Static(help_text(self.app, self._keys_by_id), id="help-text", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
