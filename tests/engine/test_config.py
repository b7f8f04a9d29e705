"""Config loading: defaults match the shipped file, overrides layer, bad input is one clear line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.config import (
    DEFAULT_CONFIG,
    DEFAULT_STRATEGIES,
    ConfigError,
    Settings,
    load_settings,
    risk_limit_ranges,
)


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
    from engine.rl.live import DEFAULTS as RL_DEFAULTS

    assert set(shipped) == set(TEMPLATES) | {"rl"}
    assert shipped["rl"]["parameters"] == RL_DEFAULTS and shipped["rl"]["model"] == ""
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
            "unknown key [engine] port; expected a key among socket, log_level, log_format, log_file, "
            "log_max_bytes, log_backups, log_summary_minutes, auto_approve_recovery, algo_flow_timing",
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[risk]\nmax_order_value = inf\n",
            "[risk] max_order_value: Input should be a finite number (got inf)",
        ),
        (
            "[risk]\nmax_position_pct = nan\n",
            "[risk] max_position_pct: Input should be a finite number (got nan)",
        ),
        (
            "[broker]\nstarting_cash = 1e300\n",
            "[broker] starting_cash: Input should be less than or equal to 1000000000000 (got 1e+300)",
        ),
        (
            "[risk]\nmax_order_value = 1e10\n",
            "[risk] max_order_value: Input should be less than or equal to 1000000000 (got 10000000000.0)",
        ),
        (
            "[risk]\nmax_order_quantity = 2e7\n",
            "[risk] max_order_quantity: Input should be less than or equal to 10000000 (got 20000000.0)",
        ),
        (
            "[risk]\nmc_seed = 18446744073709551616\n",
            "[risk] mc_seed: Input should be less than or equal to 4294967295 (got 18446744073709551616)",
        ),
        (
            "[strategies.momentum]\nparameters = { stop_atr = -inf }\n",
            "[strategies] momentum.parameters.stop_atr: Input should be a finite number (got -inf)",
        ),
    ],
)
def test_infinite_nan_and_out_of_range_numbers_are_refused_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == f"{cfg}: {expected}"


@pytest.mark.parametrize("raw", ["inf", "+inf", "-inf", "nan", "1e400"])
def test_an_infinite_limit_from_the_environment_is_refused(raw: str) -> None:
    assert load_settings(environ={"ONETAP_RISK__MAX_ORDER_VALUE": "1000"}).risk.max_order_value == 1000.0
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"ONETAP_RISK__MAX_ORDER_VALUE": raw})
    assert str(info.value).startswith("environment ONETAP_RISK__MAX_ORDER_VALUE: [risk] max_order_value: ")


def test_every_limit_has_an_upper_bound_documented_in_the_config_and_the_readme() -> None:
    """The range beside each [risk] key in default.toml and in the README's table is the schema's."""
    ranges = risk_limit_ranges()
    assert ranges["max_order_value"] == "more than 0, at most 1,000,000,000"
    assert all("at most" in words for words in ranges.values()), ranges
    documented: dict[str, str] = {}
    section = ""
    for line in DEFAULT_CONFIG.read_text().splitlines():
        if line.startswith("["):
            section = line
        elif section == "[risk]" and "=" in line and not line.startswith("#"):
            key, _, rest = line.partition("=")
            documented[key.strip()] = rest.partition("#")[2].strip()
    assert {k: v for k, v in documented.items() if k in ranges} == ranges
    readme = (DEFAULT_CONFIG.parents[1] / "README.md").read_text()
    for name, words in ranges.items():
        assert f"| `{name}` | {words} |" in readme, name


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


def test_cli_data_file_without_a_universe_symbol_exits_2_naming_it(tmp_path: Path) -> None:
    """Before: a KeyError traceback from deep in the engine's start, exit 1."""
    from engine.data.shipped import load_shipped

    data = tmp_path / "bars.csv"
    frame = load_shipped(["AAPL", "SPX"]).bars["AAPL"].reset_index()
    frame["symbol"] = "AAPL"
    frame.to_csv(data, index=False)
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(
        f'[universe]\nsymbols = ["AAPL", "MSFT"]\n[data]\nsource = "file"\npath = "{data}"\n'
        f'[store]\ndatabase = "{tmp_path / "onetap.db"}"\n'
        f'[engine]\nsocket = "{tmp_path / "run" / "engine.sock"}"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"onetap: cannot start: {data}: no bars for symbol MSFT (the data has AAPL); "
        "add it or remove it from [universe] symbols\n"
    )
