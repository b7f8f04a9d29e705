"""Config loading: defaults match the shipped file, overrides layer, bad input is one clear line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG, DEFAULT_STRATEGIES, ConfigError, Settings, load_settings


def test_default_file_equals_model_defaults() -> None:
    """config/default.toml documents every setting; the model's defaults must be the same values."""
    with DEFAULT_CONFIG.open("rb") as fh:
        shipped = tomllib.load(fh)
    assert shipped == Settings().model_dump(exclude={"strategies"})


def test_strategies_file_equals_the_templates_own_defaults() -> None:
    """config/strategies.toml shows each template's declared signals and default parameters."""
    from engine.strategies.templates import TEMPLATES

    with DEFAULT_STRATEGIES.open("rb") as fh:
        shipped = tomllib.load(fh)
    assert set(shipped) == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        assert shipped[name]["parameters"] == dict(template.defaults), name
        assert shipped[name]["signals_required"] == list(template.signals_required), name
    assert load_settings().strategies["pairs"].max_positions == shipped["pairs"]["max_positions"]


def test_unknown_template_parameter_is_refused_naming_it(tmp_path: Path) -> None:
    from engine.strategies.policy import template_params

    cfg = tmp_path / "my.toml"
    cfg.write_text("[strategies.momentum]\nparameters = { stop_atrr = 2.0 }\n")
    with pytest.raises(
        ConfigError, match=r"\[strategies.momentum\] parameters: momentum: unknown parameter 'stop_atrr'"
    ):
        template_params(load_settings(cfg))


def test_file_then_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "my.toml"
    cfg.write_text('[replay]\nseconds_per_day = 20.0\nseed = 3\n[universe]\nsymbols = ["msft", "aapl"]\n')
    s = load_settings(cfg, environ={"ONETAP_REPLAY__SEED": "11", "ONETAP_BROKER__ALLOW_SHORT": "true"})
    assert s.replay.seconds_per_day == 20.0
    assert s.replay.seed == 11
    assert s.broker.allow_short is True
    assert s.universe.symbols == ["MSFT", "AAPL"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[risk]\nmax_position_pct = 1.5\n",
            "[risk] max_position_pct: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            "[risk]\nmax_positon_pct = 0.1\n",
            "unknown key [risk] max_positon_pct; expected max_position_pct (a key of this section)",
        ),
        (
            "[engine]\nport = 4001\n",
            "unknown key [engine] port; expected a key among socket, log_level, auto_approve_recovery",
        ),
        (
            '[replay]\nseconds_per_day = "fast"\n',
            "[replay] seconds_per_day: Input should be a valid number (got 'fast')",
        ),
        ('[replay]\nstart = "2012-13-01"\n', "[replay] start: expected a date YYYY-MM-DD, got '2012-13-01'"),
        ('[broker]\nkind = "ib"\n', "[broker] kind: Input should be 'paper' or 'ibkr' (got 'ib')"),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == f"{cfg}: {expected}"


def test_bad_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "5"})
    assert str(info.value) == (
        "environment ONETAP_REPLAY__STEPS_PER_DAY: [replay] steps_per_day: "
        "Input should be greater than or equal to 10 (got 5)"
    )


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[risk]\ndaily_loss_limit_pct = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"onetap: config error: {cfg}: [risk] daily_loss_limit_pct: Input should be greater than 0 (got -1)\n"
    )
    assert "Traceback" not in proc.stderr


def test_cli_data_that_cannot_load_exits_2_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    data.write_text("date,open,high,low\n2020-01-02,1,2,0.5\n")
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n[store]\ndatabase = "{tmp_path / "onetap.db"}"\n'
        f'[engine]\nsocket = "{tmp_path / "run" / "engine.sock"}"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("onetap: cannot start: ")
    assert str(data) in lines[0] and "close" in lines[0] and "volume" in lines[0]


def test_a_date_from_the_environment_stays_a_date_string() -> None:
    s = load_settings(environ={"ONETAP_REPLAY__START": "2012-01-17"})
    assert s.replay.start == "2012-01-17"
