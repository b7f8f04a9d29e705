"""A trained agent as a strategy template: the ``rl`` template, producing cards like the others.

Enabled by listing ``rl`` in ``[cards] templates`` with ``[strategies.rl] model = "<model id>"``
(off by default). The template goes through everything the built-in ones do: the scan measures
its past trades and calibrates its confidence, the generator sizes, ranks and validates its
cards, the risk checks and execution send them.

What the setup is, bar by bar: at each close the agent is shown the observation it would see
holding nothing (``env.observe`` with flat weights and all cash: the question an entry card
asks, "from flat, would you buy?", and the same state every training episode starts from). The
entry rule holds where the agent's action asks for exposure (buy, or a bucket or weights of at
least ``min_exposure``); the exit rule where it asks for none (sell); the card trades the basket
the action asks for (weights normalised to the card's capital). The score is the agent's
probability of that action (``agents.predictor``).

Honesty rules:

* only out-of-sample decisions are scored: an entry at or before the model's ``train_end``
  (training and validation data) is not an entry of this template's track record, so the
  calibration of its confidence (``engine.strategies.calibration``, as every template's) and
  its win rate, mean and spread are fitted on the decisions the agent made on data it never
  saw, its walk-forward record, never on the period it learnt from;
* a model trained through the as-of date has no such record: its confidence is the smoothed
  base rate of nothing (0.5), and ``min_confidence`` decides.

Faults: a model that is missing, unreadable, or trades a symbol with no bars raises
``TemplateUnavailable`` naming the model: the scan holds this template back with that reason
(the engine says so in a notice) and the other templates' cards are shown as usual.

torch, stable-baselines3 and gymnasium load on the first build (``engine.rl.inference``), so
an engine whose config does not enable the template never imports them. A loaded model is kept
for the next session's scan while its file is unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.config import ConfigError, Settings, TemplateSettings
from engine.model.exits import StopRule
from engine.rl import registry
from engine.strategies.policy import exit_policy
from engine.strategies.templates.base import (
    NO_PROTECTION,
    Panel,
    Params,
    Setup,
    Template,
    TemplateUnavailable,
)

if TYPE_CHECKING:
    from engine.rl.inference import Decider

NAME = "rl"
DEFAULTS: dict[str, float] = {"horizon": 5.0, "stop_pct": 0.08, "min_exposure": 0.05}
"""``horizon``: sessions a card's trade is held at most (its track record's horizon too);
``stop_pct``: the loss, as a share of the card's capital, its size is budgeted on (the basket
has no one price for a resting stop); ``min_exposure``: the least target exposure that counts as
an entry for the bucket and continuous-weight agents."""

_cache: dict[str, tuple[float, Decider]] = {}
_lock = threading.Lock()


def _decider(model: str, root: Path | None) -> Decider:
    """The model by id, prefix or path, loaded once while its file is unchanged."""
    try:
        record = registry.find_model(model, root)
        stamp = record.model_file.stat().st_mtime
    except (LookupError, OSError, ValueError) as exc:
        raise TemplateUnavailable(f"rl: model {model!r}: {exc}") from None
    key = str(record.model_file)
    with _lock:
        held = _cache.get(key)
        if held is not None and held[0] == stamp:
            return held[1]
        try:
            from engine.rl.inference import Decider

            decider = Decider(*registry.load_model(record))
        except Exception as exc:  # a corrupt archive, an agent or feature this code lacks
            raise TemplateUnavailable(f"rl: model {model!r} cannot be loaded: {exc}") from None
        _cache[key] = (stamp, decider)
        return decider


def _entry_rule(decider: Decider, action: Any, target: np.ndarray, min_exposure: float) -> tuple[bool, bool]:
    """(entry, exit) for one decision from flat."""
    gross = float(np.sum(np.abs(target)))
    if decider.config.actions == "signal":
        return int(action) == 1, int(action) == 2
    return gross >= min_exposure, gross < min_exposure


def rl_setup(decider: Decider, panel: Panel, p: Params) -> Setup:
    """The agent's decisions from flat over the panel (see the module docstring)."""
    from engine.research.backtest import price_matrix
    from engine.rl.env import first_decision, observe

    record = decider.record
    try:
        market = decider.market(panel)
    except ValueError as exc:
        raise TemplateUnavailable(f"rl: {exc}") from None
    n_bars, k = len(market), len(market.symbols)
    start = first_decision(market, decider.config.window)
    if start >= n_bars:
        raise TemplateUnavailable(
            f"rl: model {record.model_id} needs {decider.config.window} bars after its features warm up; "
            f"the data has {n_bars}"
        )
    flat = np.zeros(k)
    entry = np.zeros(n_bars, dtype=np.bool_)
    leave = np.zeros(n_bars, dtype=np.bool_)
    prob = np.zeros(n_bars)
    exposure = np.zeros(n_bars)
    weights = np.full((n_bars, k), 1.0 / k)
    words: dict[int, str] = {}
    for t in range(start, n_bars):
        action, target, pr = decider.decide_obs(observe(market, decider.config.window, t, flat, 1.0), flat)
        entry[t], leave[t] = _entry_rule(decider, action, target, p["min_exposure"])
        prob[t] = pr
        gross = float(np.sum(np.abs(target)))
        exposure[t] = gross
        if gross > 0:
            weights[t] = target / gross
        words[t] = str(action) if decider.config.actions != "continuous" else "weights"
    oos = market.dates > np.datetime64(record.train_end, "D")
    names = ("hold", "buy", "sell")

    def reason(t: int) -> str:
        act = words.get(t, "")
        said = names[int(act)] if decider.config.actions == "signal" and act.isdigit() else act
        basket = ", ".join(f"{s} {w:.0%}" for s, w in zip(market.symbols, weights[t], strict=True))
        return (
            f"agent {record.model_id} ({record.agent}) says {said} with p={prob[t]:.2f}: "
            f"{exposure[t]:.0%} exposure in {basket}"
        )

    def px(field: str) -> np.ndarray:
        return price_matrix(panel, market.dates, market.symbols, field)

    return Setup(
        template=NAME,
        key="+".join(market.symbols),
        symbols=market.symbols,
        dates=market.dates,
        open=px("open"),
        close=px("close"),
        entry=entry & oos,
        exit=leave,
        score=prob,
        weights=weights,
        stop=np.full(n_bars, p["stop_pct"]),
        target=np.full(n_bars, np.inf),
        components={"action_probability": prob, "target_exposure": exposure},
        reason=reason,
        params=p,
        high=px("high"),
        low=px("low"),
    )


def rl_template(configured: TemplateSettings, root: Path | None = None) -> Template:
    """The ``rl`` template for ``[strategies.rl]`` (its model, parameters and exit policy)."""
    model = configured.model.strip()
    if not model:
        raise ConfigError(
            "[strategies.rl] model: the rl template is enabled but names no model "
            "(`onetap rl list` shows the trained ones)"
        )
    base = Template(
        name=NAME,
        title=f"RL agent {Path(model).name}",
        rules=__doc__ or "",
        horizon_days=1,
        signals_required=(),
        min_history=1,
        defaults=dict(DEFAULTS),
        build=lambda _panel, _p: [],
        exit_policy=NO_PROTECTION,
        stop_rules=frozenset({StopRule.NONE, StopRule.PERCENT, StopRule.TRAIL_PERCENT}),
    )
    try:
        params = base.params(configured.parameters)
    except ValueError as exc:
        raise ConfigError(f"[strategies.rl] parameters: {exc}") from None
    horizon = int(params["horizon"])
    if horizon < 1 or not 0.0 < params["stop_pct"] < 1.0:
        raise ConfigError(
            f"[strategies.rl] parameters: horizon must be at least 1 session and stop_pct in (0, 1), "
            f"got {params['horizon']:g} and {params['stop_pct']:g}"
        )

    def build(panel: Panel, p: Params) -> list[Setup]:
        decider = _decider(model, root)
        return [rl_setup(decider, panel, p)]

    template = replace(base, defaults=params, build=build, horizon_days=horizon)
    if configured.exit is not None:
        template = replace(template, exit_policy=exit_policy(template, configured.exit))
    return template


def live_templates(settings: Settings, root: Path | None = None) -> list[Template]:
    """The templates above the strategies layer that ``settings`` enables (the ``rl`` one, if
    listed in ``[cards] templates``); checks its configuration without loading anything heavy."""
    if NAME not in settings.cards.templates:
        return []
    return [rl_template(settings.strategies.get("rl") or TemplateSettings(), root)]


def forget_loaded() -> None:
    """Drop the loaded models (tests; a retrained model is reloaded anyway by its file time)."""
    with _lock:
        _cache.clear()
