"""The Textual app: one desk, global keys (the kill switch above all), and the engine link.

Events arrive from the client's sink as messages and are folded into ``DeskState`` at once,
but the widgets are repainted by a timer at most ``FLUSH_HZ`` times a second with whatever
changed in between. A replay at full speed or a busy live feed therefore costs the terminal
(often an SSH session) a bounded number of frames.

Commands are sent from workers, so the UI never waits on the engine; every result comes
back through ``send_command``, which is where refusals become visible (and where a DUPLICATE
refusal of a card turns into the question whether to send it again).

Screens above the desk that show the same state (risk detail, limits, the execution report,
the modify and reconciliation dialogs) implement ``FollowsDesk`` and are redrawn by the same
flush, at the same bounded rate.

Two events open something by themselves: an execution that ends FAILED or ROLLED_BACK is
toasted with what happened to each leg, and a reconciliation summary awaiting approval opens
the reconciliation dialog (trading stays RECOVERING until the operator approves it).

The footer must fit an 80-column terminal, so it shows the keys an operator needs at a glance
(execute, flatten, cancel, the risk and execution screens, the kill switch, quit, and resume or
approve only when they can act); the rest are named in their pane's subtitle and offered in
the command palette (``ctrl+p``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from console.client import LinkState, SocketClient
from console.keys import Hotkeys, keymap
from console.link import LinkWatch
from console.messages import CommandRequest, EngineEventMessage, ModifyRequest
from console.refusals import refusal_body, refusal_title
from console.screens import (
    ConfirmDialog,
    DeskScreen,
    ExecutionReportScreen,
    LimitsDialog,
    ModifyDialog,
    ReconciliationDialog,
    ResumeDialog,
    RiskDetailScreen,
)
from console.screens.help import HelpScreen
from console.screens.models import ModelsScreen
from console.screens.portfolio import PortfolioScreen
from console.screens.rebalance import RebalanceScreen
from console.screens.research import ResearchScreen
from console.screens.scoreboard import ScoreboardScreen
from console.state import DeskState, FollowsDesk
from console.tty import TerminalLost, detach_output, hangup_safe
from console.widgets import CardsPane, OrderBlotter, StatusLine
from console.widgets.progress import outcome_text
from engine.model import CommandSource, DeskArea, Order, Position, RefusalCode
from engine.model.events import (
    CancelAll,
    Command,
    CommandResult,
    Event,
    ExecuteCard,
    ExecutionEvent,
    Flatten,
    Kill,
    NoticeEvent,
    ReconciliationSummary,
    ReplayControl,
    RiskAlert,
    SnapshotEvent,
    action_of,
)

if TYPE_CHECKING:
    from textual.driver import Driver

    from console.client import EngineClient
    from engine.config import Settings

__all__ = ["Hotkeys", "OneTapApp"]

FLUSH_HZ = 10
REPLAY_SPEED = 20.0
"""Quote steps per second an attached replay starts at (``>``/``<`` double or halve it)."""
TOAST_S = 5
"""How long a notice, refusal or alert toast stays: short, since the event log keeps every one."""
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
ENGINE_STOP_WAIT_S = 4.0
"""After SIGTERM/SIGHUP, how long the watchdog waits for the embedded engine's orderly stop."""
EXIT_GRACE_S = 0.5
"""Once the engine has stopped (or that wait ran out), how long the app may take to leave."""
_ALERT_SEVERITY: dict[str, SeverityLevel] = {"info": "information", "warning": "warning", "error": "error"}
"""RiskAlert levels -> Textual toast severities."""


class OneTapApp(App[None]):
    """The operator console in front of one engine, embedded or attached."""

    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+k", "kill", "KILL", priority=True, id="onetap.kill"),
        Binding("R", "resume", "Resume", id="onetap.resume"),
        Binding("q", "quit", "Quit", id="onetap.quit"),
        Binding("P", "replay_pause", "Replay ⏯", id="onetap.replay_pause"),
        Binding("N", "replay_step", "Step", id="onetap.replay_step"),
        Binding(">", "replay_speed(2.0)", "Faster", id="onetap.replay_faster"),
        Binding("<", "replay_speed(0.5)", "Slower", id="onetap.replay_slower"),
        Binding("question_mark,f1", "help", "Help", id="onetap.help"),
        Binding("escape", "hide_help_panel", "Close the keys panel", show=False),
    ]

    def __init__(
        self,
        client: EngineClient,
        *,
        hotkeys: Hotkeys | None = None,
        title: str = "onetap",
        on_first_frame: Callable[[], None] | None = None,
        exit_on_connect_error: bool = False,
        exit_on_signals: bool = False,
        settings: Settings | None = None,
        on_first_cards: Callable[[], None] | None = None,
    ) -> None:
        """``on_first_frame`` is called once, after the desk first drew the engine's snapshot.

        ``exit_on_connect_error``: an embedded engine that cannot start ends the app at once (the
        CLI then prints why and exits 2); an attached console instead stays up and says so.
        ``exit_on_signals``: SIGTERM and SIGHUP (the SSH session dropped) quit as ``q`` does, so an
        embedded engine stops with everything persisted (the CLI sets it; tests leave it off).
        ``settings``: what the research screen loads data and the universe from; without it, an
        embedded client's settings, else the default configuration (``research_settings``).
        """
        super().__init__()
        self._exit_on_signals = exit_on_signals
        self._exit_on_connect_error = exit_on_connect_error
        self._on_first_frame = on_first_frame
        self._on_first_cards = on_first_cards
        """Called once, when the desk first shows cards (``make bench``: time to the first cards)."""
        self._live_asked = False
        self._replay_paused = True
        """An attached replay starts paused (``engine.api.replay.run_attached``)."""
        self._replay_speed = REPLAY_SPEED
        self.client = client
        self._settings = settings
        self.hotkeys = hotkeys or Hotkeys()
        self.title = title
        self.state = DeskState()
        self.connection = f"connecting to {client.description}…"
        self._dirty: set[DeskArea] = set()
        self._client_closed = False
        self._client_done = threading.Event()
        self._quitting = False
        self.terminal_lost = False
        self.link = LinkWatch()
        self._scan_started: float | None = None
        self._offered: tuple[bool, bool, bool] | None = None
        self._reconciliation_shown: ReconciliationSummary | None = None
        self.set_keymap(keymap(self.hotkeys))

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, made safe against a terminal that goes away (console.tty)."""
        return hangup_safe(super().get_driver_class())

    def get_default_screen(self) -> DeskScreen:
        """The desk is the base screen, so nothing can pop it and leave a blank terminal."""
        return DeskScreen(self.hotkeys)

    @property
    def desk(self) -> DeskScreen | None:
        """The desk, once Textual has installed it as the base screen."""
        stack = self.screen_stack
        return stack[0] if stack and isinstance(stack[0], DeskScreen) else None

    def on_mount(self) -> None:
        if self._exit_on_signals:
            loop = asyncio.get_running_loop()
            for sig in EXIT_SIGNALS:
                loop.add_signal_handler(sig, self._exit_on_signal, sig)
        self.set_interval(1 / FLUSH_HZ, self.flush_desk, name="desk-flush")
        self.set_interval(1.0, self._age_link, name="link-age")
        if isinstance(self.client, SocketClient):
            self.client.on_link = self._link_changed
        self.run_worker(self._connect(), name="connect", group="engine", exit_on_error=False)

    async def _connect(self) -> None:
        """Connect off the message loop: an embedded engine may take seconds to start."""
        try:
            await self.client.connect(self._sink)
        except Exception as exc:
            if self._exit_on_connect_error:
                self.exit(return_code=2)
                return
            self.connection = f"NOT CONNECTED ({self.client.description})"
            self._dirty |= self.state.note(f"cannot connect to the engine: {exc}", "error")
            self.notify(f"cannot connect to the engine: {exc}", title="Engine", severity="error", timeout=60)
        else:
            self.connection = self.client.description
            if self.state.line is None:
                client = self.client
                where = (
                    f"the engine at {client.path}"
                    if isinstance(client, SocketClient)
                    else f"the {client.description}"
                )
                self._dirty |= self.state.note(f"connected to {where}")
        self._dirty.add(DeskArea.STATUS)

    def _sink(self, event: Event) -> None:
        """Called by the client for every event; posting is safe from any thread."""
        self.post_message(EngineEventMessage(event))

    # ------------------------------------------------------------------ events in
    def _link_changed(self, link: LinkState) -> None:
        """An attached console lost or regained its engine (the client retries by itself)."""
        was_down = self.link.down
        self.link.change(link)
        if link.up and was_down:
            self._dirty |= self.state.note(f"reconnected to the engine ({self.client.description})")
            self.notify("reconnected to the engine; the desk is live again", title="Engine", timeout=6)
        # a loss is told by the client's notice (toasted, and kept in the log), with the ctrl+k hint
        self._dirty.add(DeskArea.STATUS)

    def _age_link(self) -> None:
        """Once a second: what shows a time that runs (the data's age, a scan's elapsed time)."""
        if self.link.down or self.state.cards_scan is not None:
            self._dirty.add(DeskArea.STATUS)

    def _scan_text(self) -> str:
        """While the engine's scan runs: "computing the day's cards: 3/7 templates · 8 s"."""
        scan = self.state.cards_scan
        if scan is None:
            self._scan_started = None
            return ""
        if self._scan_started is None:
            self._scan_started = time.monotonic()
        done, total = scan
        elapsed = time.monotonic() - self._scan_started
        return f"computing the day's cards: {done}/{total} templates · {elapsed:.0f} s"

    def on_engine_event_message(self, message: EngineEventMessage) -> None:
        self.link.data()
        changed = self.state.apply(message.event)
        self._dirty |= changed
        event = message.event
        if isinstance(event, SnapshotEvent):
            self.flush_desk()  # a whole new desk: draw it now rather than at the next tick
        if DeskArea.EXECUTION_FAILED in changed and isinstance(event, ExecutionEvent):
            self._toast_failed_execution(event)
        if DeskArea.RECONCILIATION in changed:
            self._offer_reconciliation()
        if DeskArea.STATUS in changed:
            self._ask_live_acknowledgement()
        if DeskArea.REFUSAL in changed:
            self._toast_refusal()
        elif isinstance(event, RiskAlert):
            self.notify(
                event.message,
                title=f"Risk: {event.code}",
                severity=_ALERT_SEVERITY.get(event.level, "warning"),
                timeout=TOAST_S * 2 if event.level == "error" else TOAST_S,
            )
        elif isinstance(event, NoticeEvent) and event.topic == "data":
            pass  # a bad file may have hundreds: the event log and the message line, never a toast storm
        elif isinstance(event, NoticeEvent) and event.level == "error":
            self.notify(event.message, severity="error", timeout=TOAST_S)
        elif isinstance(event, NoticeEvent) and event.level == "warning":
            self.notify(event.message, severity="warning", timeout=TOAST_S)

    def _ask_live_acknowledgement(self) -> None:
        """A live account connected and not acknowledged: ask for its id, once per run."""
        status = self.state.status
        if status is None or status.live_acknowledged or self._live_asked or status.link != "connected":
            return
        from console.screens.live_ack import LiveAckDialog

        self._live_asked = True
        self.push_screen(LiveAckDialog(status.account, self.send_command))

    def flush_desk(self) -> None:
        """Repaint what changed since the last flush (the 10 Hz timer calls this; tests may too)."""
        desk = self.desk
        if not self._dirty or desk is None or not desk.is_mounted:
            return  # what is dirty stays dirty until the desk can show it
        if not desk.query(StatusLine):
            return  # the desk is mounted but its panes are gone: the app is shutting down
        areas, self._dirty = self._dirty, set()
        desk.show(self.state, areas, connection=self.connection)
        if areas & {DeskArea.CARDS, DeskArea.STATUS}:
            desk.query_one(CardsPane).scanning = self._scan_text()
        if DeskArea.STATUS in areas:
            header = self.link.header()
            desk.query_one(StatusLine).disconnected = header
            desk.set_class(header is not None, "-stale")  # panes drawn dashed: last known, not live
        for screen in self.screen_stack[1:]:
            if isinstance(screen, FollowsDesk) and screen.is_mounted:
                screen.follow(self.state, areas)
        if self._on_first_frame is not None and self.state.risk is not None:
            self.call_after_refresh(self._on_first_frame)
            self._on_first_frame = None
        if self._on_first_cards is not None and self.state.cards:
            self.call_after_refresh(self._on_first_cards)
            self._on_first_cards = None
        offered = (self.state.halted, self.state.awaiting_approval, self.state.recovering)
        if areas & {DeskArea.RISK, DeskArea.RECONCILIATION} and offered != self._offered:
            # resume and approve show in the footer only when they can act; only then is the footer
            # rebuilt (it was on every risk update, several a second: most of the idle desk's CPU)
            self._offered = offered
            self.refresh_bindings()

    # ------------------------------------------------------------------ commands out
    async def send_command(self, command: Command) -> CommandResult:
        """Send one command and make its outcome visible; never raises."""
        try:
            result = await self.client.send(command)
        except Exception as exc:
            message = f"could not reach the engine: {exc}"
            result = CommandResult(ok=False, message=message, code=RefusalCode.CLIENT_ERROR)
        changed = self.state.apply_result(action_of(command), result)
        self._dirty |= changed
        if DeskArea.REFUSAL in changed:
            self._toast_refusal()
        elif result.ok and result.message:
            self.notify(result.message, timeout=4)
        if isinstance(command, ExecuteCard) and _refused_as_duplicate(command, result):
            self._confirm_duplicate(command, result)
        return result

    def on_command_request(self, message: CommandRequest) -> None:
        self.run_worker(self.send_command(message.command), group="commands")

    def _confirm_duplicate(self, command: ExecuteCard, result: CommandResult) -> None:
        """The refusal is already shown; ask whether to send the same card again, overriding the guard."""

        def answered(again: bool | None) -> None:
            if again:
                override = replace(command, override_duplicate=True)
                self.run_worker(self.send_command(override), group="commands")

        body = (
            f"The same order was sent moments ago ({result.message or 'duplicate'}).\n\n"
            f"Send card {command.card_id} again anyway? y sends it; any other key cancels."
        )
        dialog = ConfirmDialog(
            "Duplicate order",
            body,
            confirm_label="Send again (y)",
            cancel_label="Cancel",
            any_key_cancels=True,
            id="duplicate-dialog",
        )
        self.push_screen(dialog, answered)

    def _toast_failed_execution(self, execution: ExecutionEvent) -> None:
        """What happened, leg by leg; the strip under the cards keeps it until the next execution."""
        self.notify(
            outcome_text(execution),
            title=f"Execution {execution.status}: {execution.name}",
            severity="error",
            timeout=30,
        )

    def _offer_reconciliation(self) -> None:
        """Open the dialog for a summary awaiting approval, once per summary; an open one follows."""
        summary = self.state.reconciliation
        if summary is None or summary.approved or summary == self._reconciliation_shown:
            return
        if any(isinstance(s, ReconciliationDialog) for s in self.screen_stack):
            return  # it takes the new summary from the flush (FollowsDesk)
        self._reconciliation_shown = summary
        self.push_screen(ReconciliationDialog(summary, self.send_command, approve_key=self.hotkeys.approve))

    def _toast_refusal(self) -> None:
        refusal = self.state.last_refusal
        if refusal is not None:
            self.notify(
                refusal_body(refusal.message, refusal.code),
                title=refusal_title(refusal.action),
                severity="error",
                timeout=TOAST_S,
            )

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Resume is offered only while trading is halted, approval only while a reconciliation
        waits for it: hidden otherwise, so the footer has room for the keys that can act."""
        if action == "resume":
            return self.state.halted
        if action == "review_reconciliation":
            return self.state.awaiting_approval or self.state.recovering
        if action.startswith("replay_"):
            return self.replaying  # an incident replayed (onetap replay --attach) only
        if action == "hide_help_panel":  # Escape closes the palette's keys panel, else is not ours
            return bool(self.screen.query("HelpPanel"))
        return True

    # ------------------------------------------------------------------ replaying an incident
    @property
    def replaying(self) -> bool:
        status = self.state.status
        return status is not None and status.mode == "replay"

    def action_replay_pause(self) -> None:
        """Pause the replayed recording, or let it run on."""
        self._replay_paused = not self._replay_paused
        action = "pause" if self._replay_paused else "resume"
        self.run_worker(self.send_command(ReplayControl(action)), group="replay")

    def action_replay_step(self) -> None:
        """Play one quote step (with the commands recorded at it), then stay paused."""
        self._replay_paused = True
        self.run_worker(self.send_command(ReplayControl("step")), group="replay")

    def action_replay_speed(self, factor: float) -> None:
        self._replay_speed = min(max(self._replay_speed * factor, 0.5), 5_000.0)
        self.run_worker(self.send_command(ReplayControl("speed", self._replay_speed)), group="replay")

    def action_kill(self) -> None:
        """The kill switch: no confirmation, from any screen or dialog (a priority binding).
        With the engine gone, it halts as ``onetap kill`` does: in the database."""
        if isinstance(self.client, SocketClient) and not self.client.connected:
            self.run_worker(self._kill_without_engine(self.client), group="kill")
            return
        self.run_worker(self.send_command(Kill(source=CommandSource.HOTKEY)), group="kill")

    async def _kill_without_engine(self, client: SocketClient) -> None:
        from engine.actor import current_user

        reason = "kill switch from the console (engine unreachable)"
        try:
            message = await asyncio.to_thread(client.halt_without_engine, reason, current_user())
        except Exception as exc:
            message = f"kill FAILED: no engine answered and the database could not be written: {exc}"
        failed = "NOT" in message or "FAILED" in message
        self._dirty |= self.state.note(message, "error" if failed else "warning")
        self.notify(message, title="KILL", severity="error" if failed else "warning", timeout=30)

    def action_resume(self) -> None:
        if not isinstance(self.screen, ResumeDialog):
            self.push_screen(ResumeDialog(self.state.risk, self.send_command))

    def action_flatten(self) -> None:
        """Kill switch level 2 sends market orders, so unlike ``ctrl+k`` it asks first."""
        if isinstance(self.screen, ConfirmDialog):
            return

        def answered(flatten: bool | None) -> None:
            if flatten:
                self.run_worker(self.send_command(Flatten(source=CommandSource.HOTKEY)), group="kill")

        self.push_screen(
            ConfirmDialog(
                "FLATTEN: close every position at market?",
                _flatten_body(self.state.positions_sorted()),
                confirm_label="Flatten (y)",
                cancel_label="Cancel (n)",
                id="flatten-dialog",
            ),
            answered,
        )

    def action_cancel_all(self) -> None:
        """Cancelling every order stops every algo too, so unlike ``c`` it asks first."""
        if isinstance(self.screen, ConfirmDialog):
            return

        def answered(cancel: bool | None) -> None:
            if cancel:
                self.run_worker(self.send_command(CancelAll(source=CommandSource.HOTKEY)), group="commands")

        self.push_screen(
            ConfirmDialog(
                "Cancel ALL open orders?",
                _cancel_all_body(tuple(self.state.orders.values())),
                confirm_label="Cancel all (y)",
                cancel_label="Keep them (n)",
                id="cancel-all-dialog",
            ),
            answered,
        )

    def on_modify_request(self, message: ModifyRequest) -> None:
        if not isinstance(self.screen, ModifyDialog):
            self.push_screen(ModifyDialog(message.order, self.send_command))

    def action_help(self) -> None:
        """``?``/F1: the help overlay above any screen; the same key (or Escape) closes it."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(keymap(self.hotkeys)))

    def action_executions(self) -> None:
        if not isinstance(self.screen, ExecutionReportScreen):
            self.push_screen(ExecutionReportScreen(self.state))

    def action_review_reconciliation(self) -> None:
        """Bring back the reconciliation dialog the operator closed without approving."""
        summary = self.state.reconciliation
        if isinstance(self.screen, ReconciliationDialog):
            return
        if summary is None:
            self.notify("no reconciliation summary has arrived from the engine yet", severity="warning")
            return
        self._reconciliation_shown = summary
        self.push_screen(ReconciliationDialog(summary, self.send_command, approve_key=self.hotkeys.approve))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The desk's keys that the footer has no room for, findable by name (``ctrl+p``)."""
        yield from super().get_system_commands(screen)
        if not isinstance(screen, DeskScreen):
            return
        keys = self.hotkeys
        blotter = screen.query_one(OrderBlotter)
        yield SystemCommand(
            f"Cancel all open orders ({keys.cancel_all})",
            "Asks first; trading is not halted",
            self.action_cancel_all,
        )
        yield SystemCommand(
            f"Modify the selected order ({keys.modify})",
            "New quantity and/or limit price of a working LMT order in the blotter",
            blotter.action_modify_order,
        )
        yield SystemCommand(
            f"Blotter: open orders only / all ({keys.filter_open})",
            "Toggle the order blotter's filter",
            blotter.action_toggle_open,
        )
        yield SystemCommand(
            f"Execution report ({keys.executions})",
            "Arrival price, average fill, slippage, fill rate and time to fill of recent executions",
            self.action_executions,
        )
        yield SystemCommand(
            f"Risk limits ({keys.limits})", "View and change the [risk] limits", self.action_limits
        )
        yield SystemCommand(
            f"Risk detail ({keys.risk_detail})",
            "VaR, stress, Greeks, paused strategies",
            self.action_risk_detail,
        )
        yield SystemCommand(
            f"Research ({keys.research})",
            "Backtest, walk-forward, permutation test and Monte Carlo of a template",
            self.action_research,
        )
        yield SystemCommand(
            f"Models ({keys.models})",
            "Trained agents: which one the rl template trades, training curves, out-of-sample evaluation",
            self.action_models,
        )
        yield SystemCommand(
            f"Portfolio report ({keys.portfolio})",
            "Value, returns, drawdown, exposures, P&L attribution, Brinson, realized gains",
            self.action_portfolio,
        )
        yield SystemCommand(
            f"Rebalance preview ({keys.rebalance})",
            "Current vs target weights, the orders and their cost; x sends them as one group",
            self.action_rebalance,
        )
        yield SystemCommand(
            f"Forecast scoreboard ({keys.scoreboard})",
            "Per template: hit rate vs confidence, return vs expected, cost vs expected, drift",
            self.action_scoreboard,
        )
        yield SystemCommand(
            f"Quotes ({keys.quotes})",
            "Bid, ask, last, day change, spread, data health",
            lambda: screen.action_view("quotes"),
        )
        yield SystemCommand(
            f"Event log ({keys.event_log})",
            "Notices, refusals with codes, alerts, data problems, fills; f filters",
            lambda: screen.action_view("events"),
        )
        yield SystemCommand(
            "Help (?)", "Every key by pane and screen; what each trading state means", self.action_help
        )
        if self.state.reconciliation is not None:
            yield SystemCommand(
                f"Reconciliation summary ({keys.approve})",
                "What start-up found at the broker; approve it to leave RECOVERING",
                self.action_review_reconciliation,
            )

    def research_settings(self) -> Settings:
        """The configuration research runs against: the app's, the embedded engine's, or the
        default files (an attached console that was given none); may raise ``ConfigError``."""
        from engine.config import Settings, load_settings

        if self._settings is None:
            held = getattr(self.client, "settings", None)
            self._settings = held if isinstance(held, Settings) else load_settings()
        return self._settings

    def action_research(self) -> None:
        """Open the research screen on the highlighted card's template, if a card is highlighted."""
        if isinstance(self.screen, ResearchScreen):
            return
        try:
            settings = self.research_settings()
        except Exception as exc:
            self.notify(f"cannot load the configuration: {exc}", title="Research", severity="error")
            return
        desk = self.desk
        card = desk.query_one(CardsPane).selected_card if desk is not None and desk.is_mounted else None
        self.push_screen(ResearchScreen(settings, card.template if card is not None else None))

    def action_models(self) -> None:
        """Open the models screen on the registry of this machine's data directory."""
        if isinstance(self.screen, ModelsScreen):
            return
        from engine.rl.registry import models_root

        try:
            settings: Settings | None = self.research_settings()
        except Exception:  # the status column then says "not used" for every model
            settings = None
        self.push_screen(ModelsScreen(models_root(), settings))

    def action_portfolio(self) -> None:
        if not isinstance(self.screen, PortfolioScreen):
            self.push_screen(PortfolioScreen(self.state, self.send_command))

    def action_rebalance(self) -> None:
        if not isinstance(self.screen, RebalanceScreen):
            self.push_screen(RebalanceScreen(self.state, self.send_command))

    def action_scoreboard(self) -> None:
        if not isinstance(self.screen, ScoreboardScreen):
            self.push_screen(ScoreboardScreen(self.state, self.send_command))

    def action_risk_detail(self) -> None:
        if not isinstance(self.screen, RiskDetailScreen):
            self.push_screen(RiskDetailScreen(self.state))

    def action_limits(self) -> None:
        if not isinstance(self.screen, LimitsDialog):
            self.push_screen(LimitsDialog(self.state.limits, self.send_command))

    async def action_quit(self) -> None:
        await self._close_client()
        self.exit()

    def _exit_on_signal(self, sig: signal.Signals) -> None:
        """SIGTERM or SIGHUP: quit as ``q`` does, with a watchdog so the process surely ends."""
        self.log.warning(f"{sig.name}: quitting")
        self._quit_with_watchdog()

    def on_terminal_lost(self, message: TerminalLost) -> None:
        """The terminal is gone (an SSH session dropped) whether or not a SIGHUP comes: quit."""
        self.terminal_lost = True
        detach_output()  # what is still written goes nowhere instead of failing
        self.log.warning(f"{message.reason}: quitting")
        self._quit_with_watchdog()

    def _quit_with_watchdog(self) -> None:
        """Quit once, however many signals arrive; if the app has not left ``EXIT_GRACE_S`` after
        the engine stopped (or ``ENGINE_STOP_WAIT_S`` passed), the watchdog ends the process.
        The engine's stop is the orderly part (orders, database, lock); what follows is drawing."""
        if self._quitting:
            return
        self._quitting = True
        threading.Thread(target=self._watchdog, name="onetap-exit-watchdog", daemon=True).start()
        self.run_worker(self.action_quit(), group="quit")

    def _watchdog(self) -> None:
        stopped = self._client_done.wait(ENGINE_STOP_WAIT_S)
        threading.Event().wait(EXIT_GRACE_S)  # the process normally ends in here, taking this thread
        detach_output()
        os._exit(0 if stopped else 1)

    async def on_unmount(self) -> None:
        if self._exit_on_signals:
            loop = asyncio.get_running_loop()
            for sig in EXIT_SIGNALS:
                loop.remove_signal_handler(sig)
        await self._close_client()

    async def _close_client(self) -> None:
        """Close once, whichever way the app ends; an embedded engine stops with it."""
        if self._client_closed:
            return
        self._client_closed = True
        try:
            await self.client.close()
        except Exception as exc:
            self.log.error(f"closing the engine client failed: {exc}")
        finally:
            self._client_done.set()


def _refused_as_duplicate(command: ExecuteCard, result: CommandResult) -> bool:
    """Refused by the duplicate guard, and not already an override (which is never asked twice)."""
    return not result.ok and result.code == RefusalCode.DUPLICATE and not command.override_duplicate


def _cancel_all_body(orders: tuple[Order, ...]) -> str:
    """What cancelling everything will do, order by order as far as the dialog has room."""
    live = [o for o in orders if o.status.is_open]
    if live:
        names = [f"{o.side} {o.quantity:g} {o.symbol} ({o.algo or o.client_order_id})" for o in live[:6]]
        shown = ", ".join(names) + (f" and {len(live) - 6} more" if len(live) > 6 else "")
        book = f"A cancel is sent for every open order the engine has ({len(live)} on the desk: {shown})"
    else:
        book = "The desk shows no open order; a cancel is still sent for any the engine has"
    return (
        f"{book}. Running algos stop. Positions stay as they are and trading is NOT halted: "
        "cards can still be executed.\n\n"
        "y cancels them all; n or Escape keeps them. ctrl+k halts trading and cancels everything."
    )


def _flatten_body(positions: tuple[Position, ...]) -> str:
    """What flattening will do to this book, in so many words."""
    held = [p.symbol for p in positions if p.quantity != 0]
    if held:
        shown = ", ".join(held[:8]) + (f" and {len(held) - 8} more" if len(held) > 8 else "")
        book = f"every position ({len(held)}: {shown}) is closed with a market order"
    else:
        book = "there are no positions to close"
    return (
        f"Trading is HALTED, every open order is cancelled, and {book}.\n\n"
        "Market orders fill at whatever price the market offers. Trading stays halted until "
        "you resume it (R, then type RESUME).\n\n"
        "y flattens now; n or Escape cancels. ctrl+k halts without closing anything."
    )
