"""``onetap cards`` and ``onetap calibration``: headless, on the shipped data."""

from __future__ import annotations

import json

import pytest

from console.cli import main


def test_cards_asof_prints_ranked_cards_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "--asof", "2012-06-01", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    cards, last = lines[:-1], lines[-1]
    assert cards, "no card on 2012-06-01"
    assert [c["rank"] for c in cards] == list(range(1, len(cards) + 1))
    assert all(c["card_id"].endswith("-20120601") for c in cards)
    assert all(0.0 < c["confidence"] < 1.0 for c in cards if c["template"] != "exit")
    assert set(last) == {"rejected"}


def test_cards_table_names_its_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "--asof", "2012-06-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Strategy cards for 2012-06-01 (bars before it only)")


def test_a_bad_date_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "--asof", "2012-13-01"]) == 2
    assert "--asof '2012-13-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
    assert main(["calibration", "--fit-end", "2030-01-01"]) == 2
    assert "no bars after --fit-end 2030-01-01" in capsys.readouterr().err


def test_calibration_reports_every_template_out_of_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibration", "--fit-end", "2010-01-01", "--end", "2013-03-01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fit_end"] == "2010-01-01"
    names = {t["template"] for t in report["templates"]}
    assert {"momentum", "mean_reversion", "trend", "options"} <= names
    for t in report["templates"]:
        assert t["n_train"] > 0 and t["n_test"] > 0
        assert sum(b["n"] for b in t["reliability"]) == t["n_test"]
    assert len(report["top"]) == 10
    # before (the score calibrator) and after (the meta-label) on the same test trades, with intervals
    metas = {m["template"]: m for m in report["meta_label"]}
    assert {"momentum", "mean_reversion", "trend", "options"} <= set(metas)
    for m in metas.values():
        before, after = m["before"], m["after"]
        assert before["n_test"] == after["n_test"] > 0
        for r in (before, after):
            assert r["skill_lo"] <= r["skill"] <= r["skill_hi"]
            assert r["edge"] == (r["model"] != "base_rate" and r["skill_lo"] > 0)
            assert sum(b["n"] for b in r["reliability"]) == r["n_test"]
