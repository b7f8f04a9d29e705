"""The generator's settings from the typed config, checked against what the templates declare."""

from __future__ import annotations

from engine.config import ConfigError, Settings
from engine.strategies.generator import GeneratorPolicy, TemplatePolicy
from engine.strategies.templates import TEMPLATES, Template
from engine.strategies.templates.base import Params


def enabled_templates(settings: Settings) -> list[Template]:
    return [TEMPLATES[name] for name in settings.cards.templates]


def template_params(settings: Settings) -> dict[str, Params]:
    """Each enabled template's parameters; a configured name the template does not know is refused."""
    out: dict[str, Params] = {}
    for template in enabled_templates(settings):
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
