"""``onetap var-backtest``: the table, ``--json``'s one object, the user's own file, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from console.cli import main


def test_json_prints_one_object_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["var-backtest", "--symbols", "SPX,IBM", "--method", "fhs_ewma", "--level", "0.95", "--json"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (record["method"], record["level"], record["window"]) == ("fhs_ewma", 0.95, 1000)
    spx, ibm = record["results"]
    assert (spx["symbol"], ibm["symbol"]) == ("SPX", "IBM")
    assert set(spx) == {
        *("symbol", "first", "last", "observations", "exceedances", "expected", "kupiec_p"),
        *("christoffersen_p", "conditional_coverage_p", "es_p", "z2", "passes"),
    }
    assert spx["observations"] == 4_030 and spx["first"] == "2002-12-27" and spx["last"] == "2018-12-31"
    assert spx["expected"] == pytest.approx(201.5) and spx["exceedances"] == 202
    assert 0.0 <= spx["kupiec_p"] <= 1.0 and spx["passes"] is True


def test_the_table_reads_exceedances_against_expected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["var-backtest", "--method", "historical", "--window", "250"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "VaR backtest: historical at 99.0%, 250-day window, one-day forecasts"
    assert out[1].split()[:4] == ["symbol", "days", "exceed", "expected"]
    row = out[2].split()
    assert row[0] == "SPX" and row[-4] == "fails"  # the flat window's 99% failure the issue measured


def write_bars(path: Path, n: int) -> None:
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    days = np.busday_offset("2010-01-04", np.arange(n), roll="forward")
    rows = ["date,open,high,low,close,volume"]
    for day, c in zip(days, close, strict=True):
        rows.append(f"{day},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},1000")
    path.write_text("\n".join(rows) + "\n")


def test_the_users_own_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mine.csv"
    write_bars(data, 600)  # the exchange calendar drops the holidays among these weekdays
    assert main(["var-backtest", "--data", str(data), "--symbols", "MINE", "--method", "student_t"]) == 2
    assert "MINE has 579 daily returns; a 1000-day window needs at least 1002" in capsys.readouterr().err
    args = ["--data", str(data), "--symbols", "mine", "--method", "fhs_ewma", "--window", "250", "--json"]
    assert main(["var-backtest", *args]) == 0
    (line,) = json.loads(capsys.readouterr().out)["results"]
    assert line["symbol"] == "MINE" and line["observations"] == 579 - 250


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "garch"], "unknown VaR method 'garch' (known: historical, parametric"),
        (["--level", "1.5"], "VaR level must be in [0.5, 1), e.g. 0.99; got 1.5"),
        (["--level", "0.3"], "VaR level must be in [0.5, 1)"),
        (["--symbols", "XYZ"], "unknown shipped symbol XYZ (shipped: AAPL"),
        (["--window", "5"], "--window must be at least 20 days, got 5"),
        (["--symbols", "SPX", "--window", "9000"], "SPX has 5030 daily returns; a 9000-day window needs"),
        (["--data", "/nonexistent/bars.csv"], "no such file"),
    ],
)
def test_bad_input_is_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["var-backtest", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("onetap var-backtest: ") and message in err and "Traceback" not in err
