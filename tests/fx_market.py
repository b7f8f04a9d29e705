"""A two-pair market for the FX desk's engine tests (issue 20): EURUSD's real daily bars
(``tests/engine/data/own_market/EURUSD.csv``, see its PROVENANCE.md) and a USDJPY made from them
(seeded): 95 x EURUSD times a seeded random walk (0.6% a day) with a push up from 25 July to
20 August 2017, so the rotation template's basket holds both pairs at once within the replay's
first two months. The USDJPY series is synthetic and says so; it exists to have a yen-quoted pair
whose P&L must be converted, not to claim anything about the yen."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.model import Fill
from tests.own_market import FIXTURES

SEED = 2


@dataclass(frozen=True)
class FxMarket:
    data_dir: Path
    config: Path


def usdjpy(eurusd: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    days = pd.to_datetime(eurusd["date"]).dt.date
    push = np.array([0.002 if date(2017, 7, 25) <= d < date(2017, 8, 20) else 0.0 for d in days])
    walk = np.exp(np.cumsum(push + np.random.default_rng(seed).normal(0.0, 0.006, len(eurusd))))
    out = eurusd.copy()
    for column in ("open", "high", "low", "close"):
        out[column] = (95.0 * eurusd[column] * walk).round(3)
    return out


def build(root: Path, extra: str = "") -> FxMarket:
    """The market's files under ``root``; ``extra``: more TOML appended to its config (a test's
    own template settings)."""
    data = root / "market"
    data.mkdir(parents=True)
    shutil.copy(FIXTURES / "EURUSD.csv", data / "EURUSD.csv")
    eur = pd.read_csv(data / "EURUSD.csv")
    eur = eur[pd.to_datetime(eur["date"]).dt.day_of_week < 5].reset_index(drop=True)  # the FX week
    usdjpy(eur).to_csv(data / "USDJPY.csv", index=False)
    instruments = root / "instruments.toml"
    instruments.write_text('[EURUSD]\nasset_class = "fx"\n\n[USDJPY]\nasset_class = "fx"\n', encoding="utf-8")
    config = root / "onetap.toml"
    config.write_text(
        f"""\
[universe]
symbols = ["EURUSD", "USDJPY"]
sectors = {{ EURUSD = "FX", USDJPY = "FX" }}

[data]
source = "file"
path = "{data}"
instruments = "{instruments}"

[replay]
start = "2017-07-03"
end = ""
steps_per_day = 30

[broker]
starting_cash = 1000000.0
commission_per_share = 0.0
commission_min = 0.0
slippage_bps = 0.0

[strategies.rotation]
min_confidence = 0.0
"""
        + extra,
        encoding="utf-8",
    )
    return FxMarket(data, config)


IDEALPRO_BPS = 0.2
"""``[broker] commission_fx_bps``'s default: IBKR IDEALPRO's 0.2 basis points of the value ..."""
IDEALPRO_MIN_USD = 2.0
"""... at least 2 USD an order (``commission_fx_min``)."""


def idealpro_fees(fills: list[Fill]) -> list[float]:
    """Each fill's commission by hand, in its own (quote) currency, for a USD account: 0.2 bps of
    the value in dollars, the 2 USD minimum on an order's first fill only; a XXXUSD pair's value is
    units x rate dollars, a USDXXX pair's is its units (dollars bought), paid in the quote currency
    at the fill's rate."""
    fees, seen = [], set()
    for f in fills:
        usd_per_quote = 1.0 if f.symbol.endswith("USD") else 1.0 / f.price
        usd = f.quantity * f.price * usd_per_quote * IDEALPRO_BPS / 1e4
        if f.client_order_id not in seen:
            usd = max(usd, IDEALPRO_MIN_USD)
            seen.add(f.client_order_id)
        fees.append(usd / usd_per_quote)
    return fees


def trending_eurusd(start: date, sessions: int, seed: int = SEED) -> pd.DataFrame:
    """A synthetic EURUSD on the FX week's days (Monday to Friday) with a clear uptrend: 0.08% a
    day of drift under 0.3% a day of seeded noise, from 1.0500. Made so the trend template has
    history enough (330 sessions) and an entry; it claims nothing about the euro."""
    days = pd.bdate_range(start, periods=sessions)
    rng = np.random.default_rng(seed)
    close = 1.05 * np.exp(np.cumsum(0.0008 + rng.normal(0.0, 0.003, sessions)))
    open_ = np.concatenate([[1.05], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.002, (2, sessions)))
    return pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "open": open_.round(5),
            "high": (np.maximum(open_, close) * (1 + wick[0])).round(5),
            "low": (np.minimum(open_, close) * (1 - wick[1])).round(5),
            "close": close.round(5),
            "volume": 1e9,
        }
    )


def build_trend(root: Path) -> FxMarket:
    """A one-pair market for a one-leg FX card: the trending EURUSD above from 2016-01-04 (520
    sessions), replayed from its 420th; only the trend template may offer cards (the others keep
    their shipped confidence floors), with IDEALPRO's commission as shipped."""
    data = root / "market"
    data.mkdir(parents=True)
    series = trending_eurusd(date(2016, 1, 4), 520)
    series.to_csv(data / "EURUSD.csv", index=False)
    instruments = root / "instruments.toml"
    instruments.write_text('[EURUSD]\nasset_class = "fx"\n', encoding="utf-8")
    config = root / "onetap.toml"
    config.write_text(
        f"""\
[universe]
symbols = ["EURUSD"]
sectors = {{ EURUSD = "FX" }}

[data]
source = "file"
path = "{data}"
instruments = "{instruments}"

[replay]
start = "{series["date"].iloc[420]}"
end = ""
steps_per_day = 30

[broker]
starting_cash = 1000000.0
slippage_bps = 0.0

[strategies.trend]
min_confidence = 0.0
""",
        encoding="utf-8",
    )
    return FxMarket(data, config)
