"""The sections of the card detail screen, one widget each, all fed by assigning ``card``.

A card's ``details`` are namespaced (``StrategyCard``'s docstring names every key), and each
section reads one namespace: the header the card's own fields with ``risk:*`` and the expected
cost, then signals, sizing, the template's track record, ranking, Greeks, the execution plan and
the notes. A key the card does not carry is left out, never shown as zero; a section with
nothing to show hides itself. Sections are Rich renderables in ``Static`` widgets, read rather
than navigated, like the risk report's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.widgets.fmt import GAIN, LOSS, WARN, money, ny_stamp, qty, signed_money
from engine.model import RANKING_FORMULA, Leg, OrderType, Side, StrategyCard
from engine.model.exits import StopRule, TimeExit

CAPS = (
    ("by_risk", "Cap by risk", "the risk budget over the stop distance"),
    ("by_vol", "Cap by volatility", "the volatility target"),
    ("by_kelly", "Cap by Kelly", "the capped fractional Kelly stake"),
    ("by_limits", "Cap by limits", "the [risk] order and position limits"),
)
"""The capital caps of ``size:*``, in the order they are shown; the smallest binds."""
BINDS = "◀ binds"
RANK_TERMS = (
    ("expected_net", "E[r] - cost", "expected horizon return net of the expected cost"),
    ("sigma", "sigma_h", "std of the horizon return"),
    ("book_corr", "rho_book", "correlation with the current book (90 days)"),
    ("penalty", "penalty", "lambda x max(0, rho_book)"),
    ("score", "score", "what the cards are ranked by"),
)
GREEK_UNITS = {
    "delta": "per $1 in the underlying",
    "gamma": "change of delta per $1",
    "vega": "per volatility point",
    "theta": "per calendar day",
    "rho": "per rate point",
}


def _table(*headers: str, header: bool = True) -> Table:
    """A compact table: no outer edge (the widget's border frames it), header in bold."""
    table = Table(
        box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold", show_header=header
    )
    for i, title in enumerate(headers):
        table.add_column(title, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def _facts() -> Table:
    """Label, value, and what the value means (dim, left-aligned, allowed to wrap)."""
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), show_header=False)
    table.add_column("label", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("meaning", justify="left", style="dim")
    return table


Cell = str | Text


def add_row(table: Table, *cells: Cell) -> None:
    """Add a row of plain strings or Text: a string is never read as Rich markup, so a name or a
    meaning in square brackets ("[risk] limits") shows as written."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def whole(value: float) -> str:
    """Whole money units for sizes and caps: cents would be false precision."""
    return f"{value:,.0f}"


def figure(value: float) -> str:
    """A signal value of any scale (a z-score, an RSI, a return), signed, to about four digits."""
    size = abs(value)
    if size >= 1000:
        return f"{value:+,.0f}"
    if size >= 100:
        return f"{value:+.1f}"
    if size >= 1:
        return f"{value:+.2f}"
    return f"{value:+.3f}"


def namespace(details: Mapping[str, float], prefix: str) -> list[tuple[str, float]]:
    """The ``prefix:*`` entries, prefix removed, in the order the engine wrote them."""
    start = f"{prefix}:"
    return [(key[len(start) :], value) for key, value in details.items() if key.startswith(start)]


LIMIT_WORDS = {
    "buying_power": "the cash free to spend (buying power)",
    "position_limit": "the position limit ([risk] max_position_pct)",
    "sector_limit": "the sector cap ([risk] max_sector_pct)",
    "order_value": "the order value limit ([risk] max_order_value)",
    "illiquid": "the liquidity cap ([cards] max_adv_share of daily volume)",
    "gross_exposure": "the gross exposure limit ([risk] gross_exposure_limit)",
}
"""What each ``limit:KIND`` the generator names means, in the words of the config."""


def binding_limit(details: Mapping[str, float]) -> str | None:
    """The limit that set ``size:by_limits``, in words with its subject ("the sector cap ([risk]
    max_sector_pct): Technology"); None for a card that does not say (an older card)."""
    for key in details:
        if key.startswith("limit:"):
            kind, _, subject = key.removeprefix("limit:").partition(":")
            words = LIMIT_WORDS.get(kind, kind.replace("_", " "))
            return f"{words}: {subject}" if subject else words
    return None


def binding_cap(details: Mapping[str, float]) -> str | None:
    """The cap that sets the card's capital: the smallest of the ``size:by_*`` caps it carries."""
    caps = [(details[f"size:{key}"], key) for key, _, _ in CAPS if f"size:{key}" in details]
    return min(caps)[1] if caps else None


def leg_order(leg: Leg) -> str:
    """The order type, with the limit price of a limit order."""
    if leg.limit_price is not None and leg.order_type is not OrderType.MKT:
        return f"{leg.order_type} {money(leg.limit_price)}"
    return str(leg.order_type)


def side_style(side: Side) -> str:
    return GAIN if side is Side.BUY else LOSS


class CardSection(Static):
    """A section drawn from ``card``; hidden while ``draw`` has nothing for it."""

    card: reactive[StrategyCard | None] = reactive(None, init=False)
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="card-section")

    def on_mount(self) -> None:
        self.border_title = self.border_title or self.TITLE

    def watch_card(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        body = None if self.card is None else self.draw(self.card)
        self.display = body is not None
        self.update("" if body is None else body)

    def draw(self, card: StrategyCard) -> RenderableType | None:
        """Each section draws its part of the card; one with nothing to show returns None and hides."""
        return None


class CardHeader(CardSection):
    """What the card trades and what it promises: legs, confidence, return, loss, cost, horizon."""

    TITLE = "Card"

    def draw(self, card: StrategyCard) -> RenderableType:
        self.border_title = card.name
        self.border_subtitle = f"{card.template} · {card.card_id}"
        asof = Text.assemble(("as of ", "dim"), ny_stamp(card.asof))
        why = Text.assemble(("Why: ", "bold"), card.reason)
        return Group(asof, why, self._legs(card), Text(), self._figures(card))

    @staticmethod
    def _legs(card: StrategyCard) -> Table:
        table = _table("Side", "Qty", "Symbol", "Order", "Algo", "Ref price")
        for column in table.columns[2:5]:
            column.justify = "left"
        for leg in card.legs:
            ref = card.details.get(f"ref_price:{leg.symbol}")
            add_row(
                table,
                Text(str(leg.side), style=side_style(leg.side)),
                qty(leg.quantity),
                Text(leg.symbol, style="bold"),
                leg_order(leg),
                str(leg.algo),
                "" if ref is None else money(ref),
            )
        return table

    @staticmethod
    def _figures(card: StrategyCard) -> Table:
        d = card.details
        table = _facts()
        add_row(table, "Confidence", f"{card.confidence:.0%}", "chance the horizon return is positive")
        spread = d.get("risk:spread")
        expected = f"{card.expected_return:+.2%}" + ("" if spread is None else f" ± {spread:.2%}")
        style = GAIN if card.expected_return > 0 else LOSS if card.expected_return < 0 else ""
        capital = d.get("size:capital", card.notional)
        meaning = "of the capital" + ("" if spread is None else ", ± 1 std")
        if capital > 0:
            meaning += f" ({card.expected_return * capital:+,.0f} on {whole(capital)})"
        add_row(table, "Expected return", Text(expected, style=style), meaning)
        if "risk:max_loss" in d:
            add_row(table, "Max loss", money(d["risk:max_loss"]), "at the stop, with costs")
        else:
            add_row(table, "Max risk", money(card.max_risk), "lost if every stop is hit")
        if "risk:reward_risk" in d:
            add_row(
                table,
                "Reward/risk",
                f"{d['risk:reward_risk']:.1f}",
                "average win over the stop distance",
            )
        if "expected_cost" in d:
            bps = d.get("expected_cost_bps")
            cost = money(d["expected_cost"]) + ("" if bps is None else f" ({bps:.1f} bps)")
            add_row(table, "Expected cost", cost, "to execute: commission, spread, impact")
        add_row(table, "Horizon", f"{card.horizon_days} sessions", "")
        if card.stop_price is not None:
            add_row(table, "Stop", money(card.stop_price), "the plan exits at a loss here")
        if card.target_price is not None:
            add_row(table, "Target", money(card.target_price), "")
        return table


TIME_EXITS = {
    TimeExit.NONE: "none: held until a stop, a target or the exit rule",
    TimeExit.CLOSE: "at the close of the last session",
    TimeExit.NEXT_OPEN: "at the open after the last session",
}


def _reference(card: StrategyCard) -> float | None:
    """The reference price the card's levels were resolved at: its one stock leg's."""
    refs = [card.details.get(f"ref_price:{leg.symbol}") for leg in card.legs]
    return refs[0] if len(refs) == 1 else None


def distance(level: float, ref: float | None, atr: float | None) -> str:
    """How far a level sits from the reference price, in percent and in ATRs."""
    if ref is None or not ref > 0:
        return ""
    out = f"{level / ref - 1.0:+.1%}"
    if atr is not None and atr > 0:
        out += f" · {abs(level - ref) / atr:.1f} ATR"
    return out


class ExitSection(CardSection):
    """How the card's position leaves the market: its exit policy in words and the levels it
    resolves to at the reference price (the engine re-resolves them at the fill)."""

    TITLE = "Exits"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        policy = card.exit_policy
        if policy is None:
            return None
        d = card.details
        ref, atr = _reference(card), d.get("exit:atr")
        table = _facts()
        add_row(table, "Policy", "", policy.describe())
        if card.stop_price is not None:
            meaning = "from the reference price"
            if "exit:trail_amount" in d:
                meaning = f"initial; trails {money(d['exit:trail_amount'])} under the best price"
            elif "exit:trail_percent" in d:
                meaning = f"initial; trails {d['exit:trail_percent']:g}% under the best price"
            add_row(
                table, "Stop", money(card.stop_price), f"{distance(card.stop_price, ref, atr)}  {meaning}"
            )
        elif policy.stop is StopRule.NONE:
            add_row(table, "Stop", "none", "no resting stop")
        if card.target_price is not None:
            add_row(table, "Target", money(card.target_price), distance(card.target_price, ref, atr))
        if atr is not None:
            add_row(table, "ATR", money(atr), "ATR(14) at the signal")
        add_row(
            table, "Horizon", f"{card.horizon_days} sessions", f"time exit {TIME_EXITS[policy.time_exit]}"
        )
        return table


class SignalsSection(CardSection):
    """The signal values at the as-of bar (``signal:*``) and the template's composite score."""

    TITLE = "Signals"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        signals = namespace(card.details, "signal")
        composite = card.details.get("score:composite")
        if not signals and composite is None:
            return None
        table = _table("Signal", "Value", header=False)
        for name, value in signals:
            add_row(table, name, figure(value))
        if composite is not None:
            add_row(table, Text("composite score", style="bold"), Text(figure(composite), style="bold"))
        return table


class SizingSection(CardSection):
    """How much capital the card commits and which cap set it (the smallest of the four)."""

    TITLE = "Sizing"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        d = card.details
        if not namespace(d, "size"):
            return None
        binds = binding_cap(d)
        table = _facts()
        if "size:capital" in d:
            add_row(table, "Capital", whole(d["size:capital"]), "committed, gross")
        if "size:risk_budget" in d:
            add_row(table, "Risk budget", whole(d["size:risk_budget"]), "money at the stop allowed")
        for key, label, meaning in CAPS:
            value = d.get(f"size:{key}")
            if value is None:
                continue
            if key == "by_limits":
                meaning = binding_limit(d) or meaning
            if key == binds:
                add_row(
                    table,
                    Text(label, style="bold"),
                    Text(whole(value), style=f"bold {WARN}"),
                    Text(f"{BINDS}: {meaning}", style=f"bold {WARN}"),
                )
            else:
                add_row(table, label, whole(value), meaning)
        if "size:kelly" in d:
            add_row(table, "Kelly", f"{d['size:kelly']:.1%}", "of equity, capped fractional Kelly")
        if "size:vol_annual" in d:
            add_row(table, "Volatility", f"{d['size:vol_annual']:.1%}", "annualised, of the card")
        self.border_subtitle = "" if binds is None else f"binding: {binds}"
        return table


class TrackRecordSection(CardSection):
    """The template's past signals before the card's as-of (``bt:*``) and its calibration."""

    TITLE = "Template track record"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        d = dict(namespace(card.details, "bt"))
        if not d:
            return None
        table = _facts()
        if "n" in d:
            add_row(table, "Past signals", f"{d['n']:,.0f}", f"of {card.template}, before this card")
        if "win_rate" in d:
            add_row(table, "Win rate", f"{d['win_rate']:.0%}", "positive over the horizon")
        if "mean" in d:
            std = "" if "std" not in d else f" ± {d['std']:.2%}"
            add_row(
                table, "Mean return", f"{d['mean']:+.2%}{std}", "per signal" + (", ± 1 std" if std else "")
            )
        elif "std" in d:
            add_row(table, "Std", f"{d['std']:.2%}", "of the horizon return")
        if "avg_win" in d:
            add_row(table, "Average win", Text(f"{d['avg_win']:+.2%}", style=GAIN), "")
        if "avg_loss" in d:
            add_row(table, "Average loss", Text(f"{-d['avg_loss']:+.2%}", style=LOSS), "")
        self._symbol_row(table, card, d)
        parts: list[RenderableType] = [table]
        meta = dict(namespace(card.details, "meta"))
        if "edge" in meta:  # the confidence is the meta-label's: its check replaces the score's
            parts.extend(meta_label_parts(meta))
        elif "brier" in d:
            parts.append(self._calibration(d["brier"], d.get("brier_base")))
        return Group(*parts)

    @staticmethod
    def _symbol_row(table: Table, card: StrategyCard, d: Mapping[str, float]) -> None:
        """This card's own symbols: how many past signals, and how many of them won."""
        n, rate = d.get("symbol_n"), d.get("symbol_win_rate")
        label = f"On {', '.join(card.symbols) or 'this symbol'}"
        if n is not None and rate is not None:
            add_row(table, label, f"{rate:.0%} of {n:,.0f}", "past signals won")
        elif n is not None:
            add_row(table, label, f"{n:,.0f}", "past signals")
        elif rate is not None:
            add_row(table, label, f"{rate:.0%}", "win rate")

    @staticmethod
    def _calibration(brier: float, base: float | None) -> Text:
        """The Brier score against the base rate's, and what the comparison says of the confidence."""
        line = Text.assemble(("Brier ", "bold"), f"{brier:.3f}")
        if base is None:
            line.append("  (no base-rate Brier to compare with)", style="dim")
            return line
        line.append(f" vs base rate {base:.3f}: ")
        if brier < base:
            line.append("lower than the base rate's, so the confidence carries information", style=GAIN)
        else:
            line.append(
                "not lower than the base rate's, so the confidence adds nothing to the win rate", style=WARN
            )
        return line


META_MODELS = {0: "base rate", 1: "logistic", 2: "gradient boosting", 3: "score (Platt)"}
"""``meta:model`` in words (``engine.strategies.meta_label.MODEL_CODES``)."""


def meta_label_parts(meta: Mapping[str, float]) -> list[RenderableType]:
    """The confidence's meta-label: its model, its out-of-sample Brier skill with the interval,
    the verdict (edge, or "no measured edge" and the base rate shown instead), reliability."""
    # the model the skill was measured on (the confidence is it only with an edge; see the verdict)
    model = META_MODELS.get(int(meta.get("tested", meta.get("model", 0))), "?")
    line = Text.assemble(("Confidence model ", "bold"), model)
    if "skill" in meta:
        lo, hi = meta.get("skill_lo", math.nan), meta.get("skill_hi", math.nan)
        level, n = meta.get("level", 0.9), meta.get("n_test", 0.0)
        line.append(f" · OOS Brier skill {meta['skill']:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        line.append(f" ({level:.0%} interval, {n:,.0f} later trades)", style="dim")
    if meta["edge"] > 0:
        verdict = Text("measured edge: the confidence is the model's", style=GAIN)
    else:
        base = meta.get("base_rate")
        rate = "" if base is None else f" {base:.0%}"
        verdict = Text(f"no measured edge: the confidence is the base rate{rate}", style=WARN)
    parts: list[RenderableType] = [line, verdict]
    bands = sorted({int(k[3:].split(":")[0]) for k in meta if k.startswith("rel")})
    if bands:
        table = _table("Predicted", "Observed", "Trades")
        for i in bands:
            band = [meta.get(f"rel{i}:{key}") for key in ("pred", "obs", "n")]
            if None in band:
                continue
            pred, obs, count = (float(v or 0.0) for v in band)
            add_row(table, f"{pred:.0%}", f"{obs:.0%}", f"{count:,.0f}")
        parts.append(table)
    return parts


class RankingSection(CardSection):
    """``RANKING_FORMULA`` in words, and this card's terms of it (``rank:*``)."""

    TITLE = "Ranking"

    def draw(self, card: StrategyCard) -> RenderableType:
        formula, _, legend = RANKING_FORMULA.partition("   ")
        parts: list[RenderableType] = [Text(formula.strip(), style="bold"), Text(legend.strip(), style="dim")]
        terms = dict(namespace(card.details, "rank"))
        table = _facts()
        for key, label, meaning in RANK_TERMS:
            value = terms.get(key)
            if value is None:
                continue
            if key in ("expected_net", "sigma"):
                shown = f"{value:+.2%}" if key == "expected_net" else f"{value:.2%}"
            elif key == "book_corr":
                shown = f"{value:+.2f}"
            else:
                shown = f"{value:.2f}"
            add_row(table, Text(label, style="bold" if key == "score" else ""), shown, meaning)
        if "score" not in terms:
            add_row(table, "score", f"{card.score:.2f}", "what the cards are ranked by")
        parts += [Text(), table]
        return Group(*parts)


class CardGreeksSection(CardSection):
    """An option card's sensitivities in money (``greek:*``); hidden for a card of shares."""

    TITLE = "Greeks"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        greeks = namespace(card.details, "greek")
        if not greeks:
            return None
        table = _facts()
        for name, value in greeks:
            add_row(table, name.capitalize(), signed_money(value), GREEK_UNITS.get(name, ""))
        return table


class PlanSection(CardSection):
    """How the card is executed, step by step, its deadline and its expected cost by component."""

    TITLE = "Execution plan"

    def draw(self, card: StrategyCard) -> RenderableType:
        lines = Text()
        for i, step in enumerate(card.plan, 1):
            lines.append(f"{i}. ", style="bold")
            lines.append(step + "\n")
        lines.append("Deadline ", style="bold")
        lines.append(f"{card.deadline_minutes:g} market minutes")
        lines.append(": a leg unfilled by then rolls the card back", style="dim")
        d = card.details
        parts = [
            f"{label} {money(d[key])}"
            for key, label in (
                ("expected_commission", "commission"),
                ("expected_spread", "spread"),
                ("expected_impact", "impact"),
            )
            if key in d
        ]
        if parts:
            lines.append("\nExpected cost ", style="bold")
            lines.append(" · ".join(parts))
        return lines


class NotesSection(CardSection):
    """The assumptions and caveats that came with the card; hidden when there are none."""

    TITLE = "Notes"

    def draw(self, card: StrategyCard) -> RenderableType | None:
        if not card.notes:
            return None
        return Text("\n".join(f"• {note}" for note in card.notes))


CARD_SECTIONS: tuple[type[CardSection], ...] = (
    CardHeader,
    ExitSection,
    SignalsSection,
    SizingSection,
    TrackRecordSection,
    RankingSection,
    CardGreeksSection,
    PlanSection,
    NotesSection,
)
