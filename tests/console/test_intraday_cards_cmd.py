"""``onetap cards`` with ``[data] intraday``: the FX and crypto cards after the daily ones, each with
its track record, backtest and walk-forward beside buy-and-hold, p-value and verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from tests.engine.intraday.bars import every, walk, write


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("intraday")
    write(root / "btc.csv", walk(every("15min", "2021-10-01", 1500), price=40_000.0))
    (root / "sets.toml").write_text(
        '[BTC-15min]\nfile = "btc.csv"\nsymbol = "BTCUSD"\nasset_class = "crypto"\nbar = "15min"\n'
        'templates = ["trend", "trend@1h"]\n'
    )
    cfg = root / "onetap.toml"
    cfg.write_text(f'[data]\nintraday = "{root / "sets.toml"}"\n')
    return cfg


def test_cards_show_the_intraday_sets(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "cards", "--asof", "2012-06-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Strategy cards for 2012-06-01")
    assert "FX and crypto (intraday sets; Sharpe annualised by each calendar and bar size)" in out
    assert "data: BTCUSD 15min on 24/7: 1,500 bars kept" in out
    lines = [line for line in out.splitlines() if line.startswith("  BTC-15min")]
    assert [line.split()[1] for line in lines] == ["trend", "trend@1h"]
    assert all("evidence of an edge" in line or "no edge" in line for line in lines)


def test_cards_json_has_one_row_per_intraday_card(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "cards", "--asof", "2012-06-01", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    intraday = [r for r in rows if r.get("intraday")]
    assert [r["template"] for r in intraday] == ["trend", "trend@1h"]
    assert intraday[0]["periods_per_year"] == 35040
    assert intraday[0]["permutations"] == 100 and 0 < intraday[0]["p_value"] <= 1
    assert intraday[0]["track_record"]["trades"] > 0
    assert "rejected" in rows[-1]


def test_a_broken_sets_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sets.toml").write_text('[X]\nfile = "nope.csv"\n')
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(f'[data]\nintraday = "{tmp_path / "sets.toml"}"\n')
    assert main(["--config", str(cfg), "cards", "--asof", "2012-06-01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("onetap cards: ") and "[X]" in err and "nope.csv: no such file" in err
