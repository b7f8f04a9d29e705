"""Hourly and 15-minute bars through the backtester and the card generator: track record,
backtest beside buy-and-hold, walk-forward in bars, permutation p-value and verdict, annualised by
the instrument's calendar and bar size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engine.data.bar_size import BarSize
from engine.data.intraday import read_intraday
from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec
from engine.research.backtest import run_template
from engine.research.intraday import (
    COSTS,
    IntradaySet,
    card_for,
    costs_for,
    honest_verdict,
    load_sets,
    resolve_template,
    series_bars,
)
from engine.strategies.scan import scan_template
from engine.strategies.templates import TEMPLATES
from tests.engine.intraday.bars import every, walk, write

BTC = InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO)
EURUSD = InstrumentSpec.default("EURUSD", AssetClass.FX)


@pytest.fixture(scope="module")
def btc_15min(tmp_path_factory: pytest.TempPathFactory) -> IntradaySet:
    path = write(
        tmp_path_factory.mktemp("btc") / "btc.csv", walk(every("15min", "2021-10-01", 2400), price=40_000.0)
    )
    return IntradaySet("BTC-15", read_intraday(path, BTC), ("trend", "mean_reversion"))


@pytest.fixture(scope="module")
def eurusd_1h(tmp_path_factory: pytest.TempPathFactory) -> IntradaySet:
    starts = every("1h", "2017-01-02", 24 * 7 * 16)
    path = write(tmp_path_factory.mktemp("fx") / "eurusd.csv", walk(starts, price=1.1, vol=0.0015))
    return IntradaySet("EURUSD-1h", read_intraday(path, EURUSD), ("trend@1d",))


def test_the_backtester_runs_on_15_minute_bars(btc_15min: IntradaySet) -> None:
    bars = series_bars(btc_15min.series)
    assert bars.dates.dtype == np.dtype("datetime64[m]")
    bt = run_template(TEMPLATES["trend"], {"BTCUSD": bars}, None, costs_for(BTC))
    assert len(bt.dates) == 2400 and (bt.dates == bars.dates).all()  # no bar merged into its day
    assert len(bt.trade_returns) > 5
    assert np.abs(bt.weights).sum() > 0
    # costs are the asset class's, per value: 12 bp a side for the coin
    assert COSTS[AssetClass.CRYPTO].per_value == pytest.approx(12e-4)
    assert costs_for(BTC).costs.per_share == 0.0


def test_a_crypto_card_on_15_minute_bars(btc_15min: IntradaySet) -> None:
    card = card_for(btc_15min, "trend", permutations=9, seed=1)
    assert card.periods_per_year == 35040 and card.calendar == "24/7" and card.bar == "15min"
    bars = series_bars(btc_15min.series)
    bt = run_template(TEMPLATES["trend"], {"BTCUSD": bars}, None, costs_for(BTC))
    r = bt.returns
    assert card.backtest.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(35040))
    record = scan_template(TEMPLATES["trend"], {"BTCUSD": bars}, TEMPLATES["trend"].params())[0]
    assert card.record.n == record.n > 0
    assert len(card.windows) == 8
    assert card.oos.n_obs == 8 * ((2400 - 800) // 8)
    assert card.oos_buy_hold.n_obs == card.oos.n_obs
    assert 0.1 <= card.p_value <= 1.0 and card.permutations == 9
    assert card.verdict.text
    again = card_for(btc_15min, "trend", permutations=9, seed=1)
    assert again.p_value == card.p_value  # seeded


def test_an_fx_card_on_hourly_bars_confirmed_daily(eurusd_1h: IntradaySet) -> None:
    card = card_for(eurusd_1h, "trend@1d", permutations=0)
    assert card.template == "trend@1d" and card.periods_per_year == 6240
    assert math.isnan(card.p_value)
    assert "deflated Sharpe" in card.verdict.text  # no permutation: the deflated Sharpe decides
    assert card.buy_hold.n_obs == len(eurusd_1h.series.frame)


def test_too_little_history_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", walk(every("15min", "2021-10-01", 200)))
    with pytest.raises(ValueError, match="200 bars are too few for trend"):
        card_for(IntradaySet("S", read_intraday(path, BTC), ("trend",)), "trend", permutations=0)


def test_losing_after_costs_is_no_edge_whatever_the_shuffles_say() -> None:
    v = honest_verdict(0.01, 0.0, -13.7, -6.7)
    assert v.edge is False and "loses after costs" in v.text and "p = 0.010" in v.text
    assert honest_verdict(0.01, 0.99, 1.2, 0.8).edge is True
    assert honest_verdict(0.4, 0.99, 1.2, 0.8).edge is False


def test_templates_by_name() -> None:
    assert resolve_template("trend@4h", BarSize(15)).name == "trend@4h"
    with pytest.raises(ValueError, match="unknown template 'drift'"):
        resolve_template("drift", BarSize(60))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[A]\nfile = "a.csv"\ncolour = "red"\n', r"\[A\]: unknown key colour"),
        ('[A]\nsymbol = "A"\n', r"\[A\]: file is required"),
        ('[A]\nfile = "a.csv"\nasset_class = "bond"\n', r"\[A\]: asset_class: unknown 'bond'"),
        ('[A]\nfile = "a.csv"\ntemplates = ["drift"]\n', r"\[A\]: unknown template 'drift'"),
        ('[A]\nfile = "missing.csv"\n', r"\[A\]: .*missing.csv: no such file"),
        ("[A\n", "not valid TOML"),
    ],
)
def test_sets_file_mistakes_name_the_set_and_key(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path / "a.csv", walk(every("15min", "2021-10-01", 50)))
    (tmp_path / "sets.toml").write_text(body)
    with pytest.raises(ValueError, match=message):
        load_sets(tmp_path / "sets.toml")
