"""``onetap cards``, ``calibration`` and ``backtest`` on a user's own market (issue 18): each says
what the data checks left out (one line; every row with --verbose) and which templates are held
back for want of volume, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from tests import own_market


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return own_market.build(tmp_path_factory.mktemp("own")).config


def test_cards_default_to_the_latest_session_and_say_what_was_dropped(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "cards"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Strategy cards for 2021-10-27 (the latest session in the data)")
    assert "data: 4 symbols (24/5, 24/7, XLON, XTKS)" in out
    assert "58 rows left out (not a trading session 54, missing value 4)" in out
    assert "closes only, filled at the close: GOLD" in out
    assert "(details: --verbose)" in out
    assert "breakout_needs_volume 2, momentum_needs_volume 2" in out
    assert "breakout, momentum held back: they read volume, and GOLD, N225 have none" in out
    assert "N225 2020-01-02: not a trading session" not in out


def test_verbose_lists_every_row_left_out(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "cards", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert (
        "N225.csv:243: N225 2020-01-02: not a trading session (XTKS holiday or closure); row excluded" in out
    )
    assert "GOLD 2020-06-06: not a trading session (Saturday (XLON)); row excluded" in out
    assert out.count("EURUSD") >= 52


def test_cards_json_keeps_stdout_json_and_names_the_held_back(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "cards", "--asof", "2021-06-01", "--json"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert lines[-1]["rejected"]["momentum_needs_volume"] == 2
    assert "data: 4 symbols" in captured.err


def test_backtest_says_what_was_dropped_and_the_closes_only_fills(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "backtest", "trend", "--symbols", "N225,GOLD,BTCUSD"]) == 0
    out = capsys.readouterr().out
    assert "Total return" in out
    assert "58 rows left out" in out and "closes only, filled at the close: GOLD" in out


def test_a_template_that_reads_volume_is_held_back_in_a_backtest(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "backtest", "momentum", "--symbols", "N225,BTCUSD"]) == 0
    out = capsys.readouterr().out
    assert "momentum held back: it reads volume, and N225 has none (missing, zero or constant)" in out


def test_calibration_says_what_was_dropped(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(config), "calibration", "--fit-end", "2021-01-01", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    json.loads(captured.out)
    assert "data: 4 symbols" in captured.err
    assert "momentum held back" in captured.err


def test_fx_alone_through_cards_and_backtest(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EURUSD (2017, 24/5) on its own: the other symbols have no bars before the session."""
    assert main(["--config", str(config), "cards", "--asof", "2017-11-01"]) == 0
    assert "Strategy cards for 2017-11-01" in capsys.readouterr().out
    assert main(["--config", str(config), "backtest", "trend", "--symbols", "EURUSD"]) == 0
    out = capsys.readouterr().out
    assert "Total return" in out and "not a trading session 54" in out
