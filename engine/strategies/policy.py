"""The generator's settings from the typed config, checked against what the templates declare."""

from __future__ import annotations

from dataclasses import replace

from engine.config import ConfigError, ExitSettings, Settings
from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.strategies.generator import GeneratorPolicy, TemplatePolicy
from engine.strategies.templates import TEMPLATES, Template
from engine.strategies.templates.base import Params


def enabled_templates(settings: Settings) -> list[Template]:
    """The enabled templates, each with its configured exit policy (``exit_policy``)."""
    out = []
    for name in settings.cards.templates:
        if name not in TEMPLATES:  # ``rl``: built from a saved model a layer above (engine/rl/live.py)
            continue
        template = TEMPLATES[name]
        configured = settings.strategies.get(name)
        if configured is not None and configured.model:
            raise ConfigError(f"[strategies.{name}] model: only the rl template trades a saved model")
        if configured is not None and configured.exit is not None:
            template = replace(template, exit_policy=exit_policy(template, configured.exit))
        out.append(template)
    return out


def exit_policy(template: Template, configured: ExitSettings) -> ExitPolicy:
    """The template's ``exit`` table as an ``ExitPolicy``; a rule the template cannot be protected
    with, or a value the rule cannot use, is refused naming the template and the key."""
    where = f"[strategies.{template.name}] exit"
    stop = StopRule(configured.stop)
    if stop not in template.stop_rules:
        allowed = ", ".join(sorted(r.value for r in template.stop_rules))
        raise ConfigError(
            f"{where}.stop: {stop.value!r} cannot protect a {template.title} card; it takes {allowed} "
            "(see the template's module docstring)"
        )
    needs_value = stop not in (StopRule.NONE, StopRule.PRICE)
    if needs_value and not configured.stop_value > 0.0:
        raise ConfigError(f"{where}.stop_value: the {stop.value!r} stop needs a positive value")
    if stop in (StopRule.PERCENT, StopRule.TRAIL_PERCENT) and not configured.stop_value < 100.0:
        raise ConfigError(
            f"{where}.stop_value: a percent stop must be under 100, got {configured.stop_value:g}"
        )
    if not needs_value and configured.stop_value != 0.0:
        raise ConfigError(
            f"{where}.stop_value: the {stop.value!r} stop takes no value, got {configured.stop_value:g}"
        )
    if stop is StopRule.NONE and configured.target_r is not None:
        raise ConfigError(f"{where}.target_r: a target in R needs a stop to measure R by; this exit has none")
    if configured.stop_limit_bps is not None and (stop is StopRule.NONE or stop.trailing):
        raise ConfigError(
            f"{where}.stop_limit_bps: only a fixed stop can be a stop-limit, not {stop.value!r}"
        )
    return ExitPolicy(
        stop=stop,
        stop_value=configured.stop_value,
        target_r=configured.target_r,
        time_exit=TimeExit(configured.time_exit),
        stop_limit_bps=configured.stop_limit_bps,
    )


def template_params(settings: Settings) -> dict[str, Params]:
    """Each enabled template's parameters; a configured name the template does not know is refused."""
    out: dict[str, Params] = {}
    for template in enabled_templates(settings):  # also checks each configured exit policy
        configured = settings.strategies.get(template.name)  # type: ignore[call-overload]
        if configured is None:
            out[template.name] = template.params()
            continue
        unknown = set(configured.signals_required) - set(template.signals_required)
        if unknown:
            raise ConfigError(
                f"[strategies.{template.name}] signals_required: {', '.join(sorted(unknown))} "
                f"is not computed by the template; it computes {', '.join(template.signals_required)}"
            )
        try:
            out[template.name] = template.params(configured.parameters)
        except ValueError as exc:
            raise ConfigError(f"[strategies.{template.name}] parameters: {exc}") from None
    return out


def generator_policy(settings: Settings) -> GeneratorPolicy:
    """The generator's settings (the engine reads them at start, so a bad exit table stops it)."""
    enabled_templates(settings)  # every configured exit policy checked against its template
    c = settings.cards
    templates: dict[str, TemplatePolicy] = {
        name: TemplatePolicy(t.min_confidence, t.max_positions, t.risk_per_position)
        for name, t in settings.strategies.items()
    }
    return GeneratorPolicy(
        vol_target=c.vol_target,
        kelly_fraction=c.kelly_fraction,
        kelly_cap=c.kelly_cap,
        correlation_penalty=c.correlation_penalty,
        max_book_corr=c.max_book_corr,
        min_adv_value=c.min_adv_value,
        max_cards=c.max_cards,
        templates=templates,
    )
