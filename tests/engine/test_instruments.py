"""The instrument model and the user's instruments file (issue 18 item 1; issue 20 extends it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.instruments import InstrumentsError, load_instruments
from engine.model import AssetClass
from engine.model.instruments import InstrumentSpec, pip_size_for


def test_defaults_follow_the_asset_class() -> None:
    eurusd = InstrumentSpec.default("EURUSD", AssetClass.FX)
    assert (eurusd.calendar, eurusd.pip_size, eurusd.currency) == ("24/5", 0.0001, "USD")
    usdjpy = InstrumentSpec.default("USDJPY", AssetClass.FX)
    assert (usdjpy.pip_size, usdjpy.currency) == (0.01, "JPY")
    btc = InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO)
    assert btc.calendar == "24/7" and btc.min_lot < 1
    index = InstrumentSpec.default("N225", AssetClass.INDEX, exchange="XTKS")
    assert (index.exchange, index.calendar, index.has_volume) == ("XTKS", "XTKS", False)
    stock = InstrumentSpec("AAPL")
    assert (stock.exchange, stock.calendar, stock.currency, stock.pip_size) == ("XNYS", "XNYS", "USD", 0.0)
    assert stock.instrument().symbol == "AAPL"
    assert pip_size_for("EUR/JPY") == 0.01


def test_bad_values_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="lot_size must be a positive number"):
        InstrumentSpec("X", lot_size=0.0)
    with pytest.raises(ValueError, match="currency must be a 3-letter ISO code"):
        InstrumentSpec("X", currency="usd")


def test_a_toml_file_describes_each_symbol(tmp_path: Path) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text(
        '[N225]\nasset_class = "index"\nexchange = "XTKS"\ncurrency = "JPY"\n\n'
        '[FTSE]\nasset_class = "index"\nexchange = "xlon"\ncurrency = "GBP"\nhas_volume = true\n\n'
        '[BTCUSD]\nasset_class = "crypto"\n',
        encoding="utf-8",
    )
    specs = load_instruments(path)
    assert specs["N225"].calendar == "XTKS" and specs["N225"].currency == "JPY"
    assert specs["FTSE"].calendar == "XLON" and specs["FTSE"].has_volume
    assert specs["BTCUSD"].calendar == "24/7" and specs["BTCUSD"].asset_class is AssetClass.CRYPTO


def test_a_csv_file_describes_each_symbol(tmp_path: Path) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text(
        "symbol,asset_class,exchange,calendar,currency,tick_size\nEURUSD,fx,,,,\nGC,future,CMES,,USD,0.1\n",
        encoding="utf-8",
    )
    specs = load_instruments(path)
    assert specs["EURUSD"].pip_size == 0.0001 and specs["EURUSD"].calendar == "24/5"
    assert specs["GC"].calendar == "CMES" and specs["GC"].tick_size == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[N225]\nexchange = "XTKS"\ncolour = "red"\n', r"instruments.toml:1: N225: unknown key 'colour'"),
        ('[N225]\nasset_class = "bond"\n', r"instruments.toml:1: N225: asset_class 'bond' is not one of"),
        (
            '[A]\nexchange = "XTKS"\n[N225]\nexchange = "MARS"\n',
            r"instruments.toml:3: N225: exchange: unknown exchange calendar 'MARS'.*name its calendar",
        ),
        ('[N225]\ntick_size = "fine"\n', r"instruments.toml:1: N225: tick_size 'fine' is not a number"),
        ("[N225\n", r"instruments.toml: not valid TOML"),
    ],
)
def test_a_mistake_names_the_file_the_line_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InstrumentsError, match=message):
        load_instruments(path)


def test_a_csv_mistake_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text("symbol,calendar\nAAPL,XNYS\nN225,NOPE\n", encoding="utf-8")
    with pytest.raises(
        InstrumentsError, match=r"instruments.csv:3: N225: calendar: unknown exchange calendar"
    ):
        load_instruments(path)
    (tmp_path / "no_symbol.csv").write_text("name\nx\n", encoding="utf-8")
    with pytest.raises(InstrumentsError, match=r"no_symbol.csv:1: missing column 'symbol'"):
        load_instruments(tmp_path / "no_symbol.csv")
