"""A user's own market for tests (issue 18): an index on Tokyo's calendar (no volume), a
commodity's closes on London's, a coin on 24/7 and a currency pair on 24/5, in one data directory
with an instruments file and a config that points at both.

The XTKS and XLON series are generated (seeded) on the real sessions of their calendars, plus one
row each on a day their exchange was closed, so a test can see that row reported, not dropped in
silence; BTCUSD and EURUSD come from ``tests/engine/data/own_market`` (see its PROVENANCE.md).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import calendar

FIXTURES = Path(__file__).parent / "engine" / "data" / "own_market"
START, END = date(2019, 1, 1), date(2021, 10, 27)
TOKYO_CLOSED_NY_OPEN = date(2020, 1, 2)
"""Japan's new-year holiday, a New York session: a row here is outside XTKS's calendar."""
TOKYO_OPEN_NY_CLOSED = date(2020, 1, 20)
"""Martin Luther King Day: New York closed, Tokyo open. XTKS must keep it."""
LONDON_SATURDAY = date(2020, 6, 6)

INSTRUMENTS_TOML = """\
[N225]
asset_class = "index"
exchange = "XTKS"
currency = "JPY"
tick_size = 1.0
name = "Nikkei 225 (synthetic)"

[GOLD]
asset_class = "commodity"
exchange = "XLON"

[BTCUSD]
asset_class = "crypto"

[EURUSD]
asset_class = "fx"
"""


@dataclass(frozen=True)
class OwnMarket:
    data_dir: Path
    instruments: Path
    config: Path


def _walk(n: int, start: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(start * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n))), 2)


def tokyo_index(extra: date | None = TOKYO_CLOSED_NY_OPEN) -> pd.DataFrame:
    """OHLC on every XTKS session (volume 0: an index), plus a row on ``extra``."""
    days = list(calendar.for_code("XTKS").sessions_array(START, END).tolist())
    if extra is not None:
        days = sorted([*days, extra])
    close = _walk(len(days), 23_000.0, 18)
    rng = np.random.default_rng(19)
    open_ = np.round(close * (1 + rng.normal(0, 0.003, len(days))), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, len(days)))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, len(days)))), 2)
    return pd.DataFrame(
        {
            "date": [d.isoformat() for d in days],
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": 0,
        }
    )


def london_closes() -> pd.DataFrame:
    """Closes only on every XLON session, plus a Saturday."""
    days = sorted([*calendar.for_code("XLON").sessions_array(START, END).tolist(), LONDON_SATURDAY])
    return pd.DataFrame({"date": [d.isoformat() for d in days], "close": _walk(len(days), 1_300.0, 20)})


def build(root: Path) -> OwnMarket:
    data = root / "market"
    data.mkdir(parents=True)
    tokyo_index().to_csv(data / "N225.csv", index=False)
    london_closes().to_csv(data / "GOLD.csv", index=False)
    shutil.copy(FIXTURES / "BTCUSD.csv", data / "BTCUSD.csv")
    shutil.copy(FIXTURES / "EURUSD.csv", data / "EURUSD.csv")
    instruments = root / "instruments.toml"
    instruments.write_text(INSTRUMENTS_TOML, encoding="utf-8")
    config = root / "onetap.toml"
    config.write_text(
        f"""\
[universe]
symbols = ["N225", "GOLD", "BTCUSD", "EURUSD"]
sectors = {{ N225 = "Index", GOLD = "Commodity", BTCUSD = "Crypto", EURUSD = "FX" }}

[data]
source = "file"
path = "{data}"
instruments = "{instruments}"

[replay]
start = "2021-06-01"
end = ""
steps_per_day = 30
""",
        encoding="utf-8",
    )
    return OwnMarket(data, instruments, config)
