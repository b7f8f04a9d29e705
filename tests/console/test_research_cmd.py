"""``onetap backtest | walkforward | permute | montecarlo`` on the shipped data."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from console.cli import main

SMALL = ["--symbols", "IBM,MSFT", "--start", "2006-01-01", "--end", "2012-12-31"]


def test_backtest_prints_metrics_against_buy_and_hold_and_writes_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "trend", *SMALL, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Backtest trend on IBM, MSFT, 2006-01-03 .. 2012-12-31")
    assert "buy & hold" in out and "Sharpe" in out and "Deflated Sharpe" in out
    stress = out[out.index("Stress") :].splitlines()
    assert [line.split()[0] for line in stress[2:7]] == ["2008", "2020", "flash", "correction", "stagflation"]
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert report["template"] == "trend" and report["strategy"]["n_trades"] > 0
    with (tmp_path / "r" / "equity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["equity"]) == 100_000.0
    assert float(rows[-1]["equity"]) == pytest.approx(100_000.0 * (1 + report["strategy"]["total_return"]))
    assert (tmp_path / "r" / "trades.csv").read_text().startswith("date,symbol,quantity")
    pytest.importorskip("matplotlib")  # charts are optional: every number is in the files above
    for chart in ("equity.png", "drawdown.png", "monthly_returns.png"):
        assert (tmp_path / "r" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart


def test_walkforward_reports_windows_and_stability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "walkforward",
        "trend",
        *SMALL,
        "--train-days",
        "504",
        "--test-days",
        "126",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Walk-forward trend:" in out and "Parameter stability" in out
    report = json.loads((tmp_path / "walkforward.json").read_text())
    assert (tmp_path / "walkforward_equity.csv").read_text().startswith("date,return,equity")
    windows = report["windows"]
    assert len(windows) >= 5
    assert all(a["test_to"] < b["test_from"] for a, b in itertools.pairwise(windows))


def test_permute_and_montecarlo_print_their_tables_and_write_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["permute", "momentum", *SMALL, "--runs", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "p-value" in out and "real Sharpe" in out
    perm = json.loads((tmp_path / "permutation.json").read_text())
    assert len(perm["null_sharpes"]) == 20 and 0.0 < perm["p_value"] <= 1.0
    args = ["montecarlo", "momentum", *SMALL, "--paths", "500", "--method", "block", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "500 block paths" in out and "probability of a loss" in out
    mc = json.loads((tmp_path / "montecarlo.json").read_text())
    assert mc["n_paths"] == 500 and mc["final_equity"]["p5"] <= mc["final_equity"]["p95"]


def test_bad_input_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "nosuch"]) == 2
    assert "unknown template 'nosuch'" in capsys.readouterr().err
    assert main(["backtest", "trend", "--symbols", "ZZZ"]) == 2
    assert "no data for ZZZ" in capsys.readouterr().err
    assert main(["backtest", "trend", "--start", "2012-99-01"]) == 2
    assert "--start '2012-99-01' is not a date" in capsys.readouterr().err


def test_a_bad_scheduler_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["permute", "momentum", *SMALL, "--runs", "5", "--scheduler", "tcp://nohost"]) == 2
    err = capsys.readouterr().err
    assert '--scheduler: expected "local" or tcp://HOST:PORT' in err and "'tcp://nohost'" in err


def test_an_unreachable_scheduler_names_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "c.toml"
    config.write_text(f'[research]\nscheduler = "tcp://127.0.0.1:{port}"\nconnect_timeout_s = 1.0\n')
    assert main(["--config", str(config), "montecarlo", "momentum", *SMALL, "--paths", "100"]) == 1
    err = capsys.readouterr().err
    assert f"no Dask scheduler answered at tcp://127.0.0.1:{port} within 1 s" in err
