"""Exit policies: declared in config/strategies.toml, checked against their template, carried by
every entry card with the levels ``resolve_levels`` gives at the card's reference price and ATR."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.config import ConfigError, load_settings
from engine.model.enums import Side
from engine.model.exits import ExitPolicy, StopRule, TimeExit, resolve_levels
from engine.strategies.book import Book, Limits
from engine.strategies.generator import Context, GeneratorPolicy, propose
from engine.strategies.policy import enabled_templates, exit_policy, generator_policy
from engine.strategies.scan import Scan, scan
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel

ASOF = date(2012, 6, 1)


def test_the_shipped_file_declares_each_templates_own_policy() -> None:
    """config/strategies.toml and the template modules say the same (research reads the modules)."""
    settings = load_settings()
    for template in enabled_templates(settings):
        assert template.exit_policy == TEMPLATES[template.name].exit_policy, template.name
    assert TEMPLATES["trend"].exit_policy == ExitPolicy(StopRule.TRAIL_ATR, 3.0, None, TimeExit.CLOSE)
    assert TEMPLATES["breakout"].exit_policy.stop is StopRule.PRICE


def test_a_configured_policy_reaches_the_templates(tmp_path: Path) -> None:
    cfg = tmp_path / "my.toml"
    cfg.write_text('[strategies.momentum]\nexit = { stop = "percent", stop_value = 4.0, target_r = 3.0 }\n')
    (momentum,) = [t for t in enabled_templates(load_settings(cfg)) if t.name == "momentum"]
    assert momentum.exit_policy == ExitPolicy(StopRule.PERCENT, 4.0, 3.0, TimeExit.CLOSE)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'pairs]\nexit = { stop = "atr", stop_value = 2.0 }',
            r"\[strategies.pairs\] exit.stop: 'atr' cannot protect a Pairs card; it takes none",
        ),
        (
            'momentum]\nexit = { stop = "atr" }',
            r"\[strategies.momentum\] exit.stop_value: the 'atr' stop needs",
        ),
        (
            'momentum]\nexit = { stop = "none", target_r = 2.0 }',
            r"\[strategies.momentum\] exit.target_r: a target in R needs a stop",
        ),
        (
            'trend]\nexit = { stop = "trail_percent", stop_value = 150.0 }',
            r"\[strategies\] trend.exit.stop_value: Input should be less than or equal to 100",
        ),
        (
            'trend]\nexit = { stop = "trail_percent", stop_value = 100.0 }',
            r"\[strategies.trend\] exit.stop_value: a percent stop must be under 100",
        ),
        (
            'breakout]\nexit = { stop = "price", stop_value = 2.0 }',
            r"\[strategies.breakout\] exit.stop_value: the 'price' stop takes no value",
        ),
        (
            'trend]\nexit = { stop = "trail_atr", stop_value = 3.0, stop_limit_bps = 20.0 }',
            r"\[strategies.trend\] exit.stop_limit_bps: only a fixed stop can be a stop-limit",
        ),
        (
            'momentum]\nexit = { stop = "trailing" }',
            r"\[strategies\] momentum.exit.stop: Input should be 'none'",
        ),
        (
            'momentum]\nexit = { stop = "atr", stop_value = 2.0, time_exit = "eod" }',
            r"\[strategies\] momentum.exit.time_exit: Input should be 'close', 'next_open' or 'none'",
        ),
    ],
)
def test_a_bad_exit_table_is_refused_naming_the_template_and_the_key(
    tmp_path: Path, table: str, expected: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[strategies.{table}\n")
    with pytest.raises(ConfigError, match=expected):
        generator_policy(load_settings(cfg))  # what the engine reads at start


def test_exit_policy_converts_every_field() -> None:
    from engine.config import ExitSettings

    got = exit_policy(
        TEMPLATES["momentum"],
        ExitSettings(stop="atr", stop_value=1.5, target_r=2.5, time_exit="next_open", stop_limit_bps=25.0),
    )
    assert got == ExitPolicy(StopRule.ATR, 1.5, 2.5, TimeExit.NEXT_OPEN, 25.0)


# ------------------------------------------------------------------------------ the cards
@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64(ASOF)]) for s, f in bars.items()}


@pytest.fixture(scope="module")
def found(panel: Panel) -> Scan:
    return scan(panel, enabled_templates(load_settings()))


def _book(panel: Panel, positions: dict[str, float]) -> Book:
    prices = {s: float(b.close[-1]) for s, b in panel.items()}
    return Book(
        equity=1_000_000.0,
        cash=1_000_000.0 - sum(q * prices[s] for s, q in positions.items()),
        positions=positions,
        prices=prices,
        sectors={"AAPL": "IT", "MSFT": "IT", "GOOG": "IT", "IBM": "IT", "AMZN": "CD"},
        limits=Limits(0.5, 1.0, 250_000.0, 1.0, 0.01),
        adv_shares={s: float(np.mean(b.volume[-20:])) for s, b in panel.items()},
        adv_value={s: float(np.mean(b.volume[-20:] * b.close[-20:])) for s, b in panel.items()},
        returns={s: b.close[-90:] / b.close[-91:-1] - 1.0 for s, b in panel.items()},
    )


def test_every_entry_card_carries_its_policy_and_its_resolved_levels(found: Scan, panel: Panel) -> None:
    book = _book(panel, {"IBM": 60.0})
    ctx = Context(datetime(2012, 6, 1, 14, 30, tzinfo=UTC), ASOF, book, GeneratorPolicy(max_cards=40))
    cards = propose(found, ctx, lambda card: card).cards
    entries = [c for c in cards if c.template != "exit"]
    assert [c.exit_policy for c in cards if c.template == "exit"] == [None]  # the close card for IBM
    assert entries
    checked = 0
    for card in entries:
        template = TEMPLATES[card.template]
        assert card.exit_policy == template.exit_policy, card.card_id
        (candidate,) = [
            c
            for c in found.candidates
            if card.card_id.startswith(f"{card.template}-")
            and card.name.endswith(c.setup.key)
            and c.template.name == card.template
        ]
        setup, t = candidate.setup, candidate.t
        if len(setup.symbols) != 1 or card.exit_policy.stop is StopRule.NONE:
            assert card.stop_price is None and card.target_price is None
            continue
        ref = card.details[f"ref_price:{setup.symbols[0]}"]
        assert setup.atr is not None and card.details["exit:atr"] == float(setup.atr[t])
        levels = resolve_levels(
            card.exit_policy, Side.BUY, ref, atr=float(setup.atr[t]), card_stop=setup.stop_price(t)
        )
        assert levels.stop_price is not None
        assert card.stop_price == round(levels.stop_price, 2)
        want_target = None if levels.target_price is None else round(levels.target_price, 2)
        assert card.target_price == want_target
        # the risk budget and max risk are measured to that stop
        loss = card.details["size:capital"] * (ref - levels.stop_price) / ref
        assert math.isclose(card.details["risk:max_loss"], loss + card.details.get("expected_cost", 0.0))
        checked += 1
    assert checked >= 1
