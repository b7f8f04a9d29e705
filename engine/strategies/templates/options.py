"""Options: a protective put or a covered call on a held or proposed stock position.

Protective put: the stock is in an uptrend (close above its 50-day average) while its 20-day
volatility has risen above its 60-day volatility by ``put_vol_ratio``: keep the upside, buy a
put ``otm`` below the price so the loss is floored at the strike. Covered call: the stock has
gone nowhere (|20-day return| under ``call_range``) while its 20-day volatility is above its
one-year average: sell a call ``otm`` above the price and keep the premium, giving up the gain
above the strike. Legs: 100 shares per contract (bought, or already held), and the option.
Expiry: the monthly (third-Friday) expiry nearest ``horizon`` sessions ahead; the track record
uses an option expiring exactly ``horizon`` sessions after entry, held to expiry.

Pricing assumption (stated on every card): no option quotes are available from the data, so
legs are priced with Black-Scholes at the stock's 20-day realized volatility, rate ``rate``,
no dividends. Real implied volatility is usually higher than realized (puts cost more, calls
pay more); with a broker that quotes options, ``engine.risk.greeks.implied_volatility`` turns
its quotes into the volatility to use instead.

Exit policy: no resting stop and no target; the option's premium is the protection. The bought
put floors the loss at the strike (less the premium paid: the most the card can lose), and the
written call is covered by the shares, so a stop selling the shares would leave the call naked.
The position is held to the horizon, the option's expiry, where the expiry handling closes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numba
import numpy as np
from numpy.typing import NDArray

from engine.model import Leg, Side
from engine.model.exits import StopRule
from engine.model.options import OCC_FIRST_YEAR, OCC_LAST_YEAR, OptionContract
from engine.risk.greeks import black_scholes
from engine.signals import segmented as seg
from engine.signals.indicators import rolling_volatility
from engine.strategies.aggregate import composite_flat
from engine.strategies.templates import panel as pn
from engine.strategies.templates.base import (
    NO_PROTECTION,
    Array,
    Bars,
    CardLegs,
    OptionLeg,
    Panel,
    Params,
    Setup,
    Template,
)
from engine.strategies.templates.panel import Family, FlatBars, one

NAME = "options"
MULTIPLIER = 100.0
TRADING_DAYS = 252.0


@numba.njit(cache=True, nogil=True)
def bs_price(is_call: bool, s: float, k: float, years: float, sigma: float, rate: float) -> float:
    """Black-Scholes price of a European option (no dividends); intrinsic value at expiry."""
    if years <= 0.0 or sigma <= 0.0:
        return max(s - k, 0.0) if is_call else max(k - s, 0.0)
    sd = sigma * math.sqrt(years)
    d1 = (math.log(s / k) + (rate + 0.5 * sigma * sigma) * years) / sd
    d2 = d1 - sd
    disc = math.exp(-rate * years)
    if is_call:
        return s * 0.5 * math.erfc(-d1 / math.sqrt(2.0)) - k * disc * 0.5 * math.erfc(-d2 / math.sqrt(2.0))
    return k * disc * 0.5 * math.erfc(d2 / math.sqrt(2.0)) - s * 0.5 * math.erfc(d1 / math.sqrt(2.0))


def strikes(prices: Array, otm: float, right: str) -> Array:
    """Listed strikes ``otm`` out of the money: a put's rounded down, a call's up, on the US
    equity option grid (2.50 apart under 25, 5 up to 200, 10 above)."""
    step = np.where(prices < 25.0, 2.5, np.where(prices < 200.0, 5.0, 10.0))
    if right == "C":
        out: Array = np.ceil(prices * (1.0 + otm) / step) * step
    else:
        out = np.maximum(step, np.floor(prices * (1.0 - otm) / step) * step)
    return out


@numba.njit(cache=True, nogil=True)
def bs_prices(
    is_call: bool, s: Array, k: Array, years: float, sigma: Array, rate: float, need: NDArray[np.bool_]
) -> Array:
    """``bs_price`` at the bars ``need`` marks (all: ``need`` of length 1 and True); NaN where the
    volatility is not positive or the price is not needed."""
    out = np.full(len(s), np.nan)
    every = len(need) == 1 and need[0]
    for i in range(len(s)):
        if sigma[i] > 0.0 and (every or (len(need) > 1 and need[i])):
            out[i] = bs_price(is_call, s[i], k[i], years, sigma[i], rate)
    return out


_EVERY_BAR = np.ones(1, dtype=np.bool_)


def _put_stop(close: Array, strike: Array, vol20: Array, p: Params, need: NDArray[np.bool_]) -> Array:
    """The protective put's floor on the loss, as a fraction: down to the strike plus the premium
    paid (NaN where ``need`` is False: the panel prices the put only where an entry may be)."""
    prem = bs_prices(
        False, close, strike, int(p["horizon"]) / TRADING_DAYS, np.nan_to_num(vol20), p["rate"], need
    )
    out: Array = (close - strike + prem) / (close + prem)
    return out


@numba.njit(cache=True, nogil=True)
def _outcomes_kernel(
    is_call: bool,
    open_: Array,
    close: Array,
    strike: Array,
    sigma: Array,
    entries: NDArray[np.int64],
    horizon: int,
    rate: float,
) -> tuple[Array, NDArray[np.int64]]:
    n_bars = len(close)
    out = np.full(len(entries), np.nan)
    exit_at = np.full(len(entries), -1, dtype=np.int64)
    years = horizon / TRADING_DAYS
    for e in range(len(entries)):
        t = entries[e]
        j = t + horizon
        if j >= n_bars:
            continue
        s0, k = open_[t + 1], strike[t]
        premium = bs_price(is_call, s0, k, years, sigma[t], rate)
        s_t = close[j]
        if is_call:  # long stock, short call: capital s0, premium received
            out[e] = (min(s_t, k) - s0 + premium) / s0
        else:  # long stock, long put: capital s0 + premium
            out[e] = (max(s_t, k) - s0 - premium) / (s0 + premium)
        exit_at[e] = j
    return out, exit_at


def monthly_expiry(asof: date, sessions: int) -> date:
    """The third Friday nearest ``sessions`` trading days (about 7/5 calendar days each) ahead."""
    aim = asof + timedelta(days=round(sessions * 7 / 5))
    best: date | None = None
    for month_offset in (-1, 0, 1):
        y, m = aim.year, aim.month + month_offset
        y, m = (y - 1, 12) if m == 0 else (y + 1, 1) if m == 13 else (y, m)
        first = date(y, m, 1)
        friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
        if friday > asof + timedelta(days=7) and (best is None or abs(friday - aim) < abs(best - aim)):
            best = friday
    assert best is not None
    return best


@dataclass(frozen=True, slots=True)
class _Signals:
    """What both overlays of one stock read, computed once for the two (over a whole panel, or
    one symbol's bars)."""

    vol20: Array
    vol60: Array
    ma50: Array
    r20: Array
    atr14: Array
    vol_mean: Array

    @classmethod
    def over(cls, flat: FlatBars) -> _Signals:
        close, starts = flat.close, flat.starts
        vol20 = pn.rolling_volatility(flat, 20)
        return cls(
            vol20,
            seg.rolling_volatility(close, starts, 60),
            pn.sma(flat, 50),
            pn.roc(flat, 20),
            pn.atr(flat, 14),
            seg.sma(vol20, starts, 252),
        )

    @classmethod
    def of(cls, bars: Bars) -> _Signals:
        return cls.over(one(bars))

    def cut(self, flat: FlatBars, i: int, k: int) -> _Signals:
        return _Signals(*(flat.cut(getattr(self, f), i, k) for f in self.__slots__))


@dataclass(frozen=True, slots=True)
class _Overlay:
    """One overlay's arrays (before the setup's finite-value rules)."""

    entry: NDArray[np.bool_]
    components: dict[str, Array]
    score: Array
    strike: Array
    stop: Array

    def cut(self, flat: FlatBars, i: int, k: int) -> _Overlay:
        return _Overlay(
            flat.cut(self.entry, i, k),
            {name: flat.cut(v, i, k) for name, v in self.components.items()},
            flat.cut(self.score, i, k),
            flat.cut(self.strike, i, k),
            flat.cut(self.stop, i, k),
        )


def _overlay(
    close: Array, starts: NDArray[np.int64], sig: _Signals, p: Params, right: str, lean: bool = False
) -> _Overlay:
    """One overlay's arrays. ``lean`` (the panel): the put's stop only at bars whose other entry
    conditions hold (elsewhere NaN, which no entry, trade or feature reads); a candidate's setup
    gets its stop at every bar (``_Overlay.cut``)."""
    vol20, vol60, ma50, r20 = sig.vol20, sig.vol60, sig.ma50, sig.r20
    is_call = right == "C"
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = vol20 / vol60
        vol_rank = vol20 - sig.vol_mean
        if is_call:
            entry = (np.abs(r20) < p["call_range"]) & (vol_rank > 0)
            components = {"vol_above_mean": vol_rank, "quiet_20d": -np.abs(r20)}
        else:
            entry = (close > ma50) & (ratio > p["put_vol_ratio"])
            components = {"vol_ratio": ratio, "trend50": close / ma50 - 1.0}
    score = composite_flat(components, dict.fromkeys(components, 0.5), starts)
    strike = strikes(close, p["otm"], right)
    a = sig.atr14
    if is_call:
        stop = np.where(np.isfinite(a), 2.0 * a / close, np.inf)
    else:  # the put floors the loss: down to the strike plus the premium paid
        need = entry & np.isfinite(score) & np.isfinite(vol20) if lean else _EVERY_BAR
        stop = _put_stop(close, strike, vol20, p, need)
    return _Overlay(
        entry & np.isfinite(score) & np.isfinite(stop) & np.isfinite(vol20), components, score, strike, stop
    )


def options_setup(
    bars: Bars, p: Params, right: str, sig: _Signals | None = None, made: _Overlay | None = None
) -> Setup:
    close = bars.close
    sig = sig or _Signals.of(bars)
    vol20, vol60, r20 = sig.vol20, sig.vol60, sig.r20
    horizon = int(p["horizon"])
    is_call = right == "C"
    made = made or _overlay(close, np.array([0, len(close)], dtype=np.int64), sig, p, right)
    components, score, strike, stop, a = made.components, made.score, made.strike, made.stop, sig.atr14
    rate = p["rate"]
    last_day = bars.last_day

    def option(t: int) -> OptionLeg | None:
        sigma = float(vol20[t])
        if not (math.isfinite(sigma) and sigma > 0):
            return None
        expiry = monthly_expiry(last_day, horizon) if t == len(close) - 1 else last_day
        years = horizon / TRADING_DAYS
        premium = bs_price(is_call, float(close[t]), float(strike[t]), years, sigma, rate)
        side = Side.SELL if is_call else Side.BUY
        return OptionLeg("C" if is_call else "P", float(strike[t]), expiry, premium, sigma, side=side)

    def reason(t: int) -> str:
        if is_call:
            return (
                f"covered call: 20d {r20[t]:+.1%} (range-bound), "
                f"20d vol {vol20[t]:.0%} above its 1y average; "
                f"sell the {strike[t]:g} call"
            )
        return (
            f"protective put: uptrend, 20d vol {vol20[t]:.0%} vs 60d {vol60[t]:.0%}; "
            f"buy the {strike[t]:g} put to floor the loss"
        )

    return Setup(
        template=NAME,
        key=f"{bars.symbol} {'covered call' if is_call else 'protective put'}",
        symbols=(bars.symbol,),
        dates=bars.dates,
        open=bars.open[:, None],
        close=close[:, None],
        entry=made.entry,
        exit=np.zeros(len(close), dtype=np.bool_),
        score=np.nan_to_num(score, nan=0.0),
        weights=np.ones((len(close), 1)),
        stop=stop,
        target=np.full(len(close), np.inf),
        components=components,
        reason=reason,
        option=option,
        params=dict(p),
        high=bars.high[:, None],
        low=bars.low[:, None],
        atr=a,
        stop_price=(lambda t: round(float(close[t] - 2.0 * a[t]), 2)) if is_call else (lambda t: None),
    )


def option_outcomes(
    setup: Setup, entries: NDArray[np.int64], horizon: int
) -> tuple[Array, NDArray[np.int64]]:
    """Stock plus option held to the option's expiry ``horizon`` sessions after entry."""
    is_call = setup.key.endswith("call")
    close = setup.close[:, 0]
    vol20 = rolling_volatility(close, 20)
    otm = setup.params["otm"]
    strike = strikes(close, otm, "C" if is_call else "P")
    result: tuple[Array, NDArray[np.int64]] = _outcomes_kernel(
        is_call,
        setup.open[:, 0].copy(),
        close.copy(),
        strike,
        np.nan_to_num(vol20),
        entries,
        horizon,
        setup.params["rate"],
    )
    return result


def build(panel: Panel, p: Params) -> list[Setup]:
    setups = []
    for bars in panel.values():
        sig = _Signals.of(bars)
        for right in ("P", "C"):
            setups.append(options_setup(bars, p, right, sig))
    return setups


@numba.njit(cache=True, nogil=True)
def _flat_outcomes(
    is_call: bool,
    open_: Array,
    close: Array,
    strike: Array,
    sigma: Array,
    entries: NDArray[np.int64],
    seg_lo: NDArray[np.int64],
    seg_hi: NDArray[np.int64],
    horizon: int,
    rate: float,
) -> tuple[Array, NDArray[np.int64]]:
    """``_outcomes_kernel`` on each symbol's own bars (entries grouped by symbol, flat indices)."""
    n = len(entries)
    out = np.full(n, np.nan)
    exit_at = np.full(n, -1, dtype=np.int64)
    e = 0
    while e < n:
        lo, hi = seg_lo[e], seg_hi[e]
        f = e
        while f < n and seg_lo[f] == lo:
            f += 1
        r, x = _outcomes_kernel(
            is_call, open_[lo:hi], close[lo:hi], strike[lo:hi], sigma[lo:hi], entries[e:f] - lo, horizon, rate
        )
        out[e:f] = r
        for q in range(e, f):
            if x[q - e] >= 0:
                exit_at[q] = x[q - e] + lo
        e = f
    return out, exit_at


def panel(flat: FlatBars, p: Params) -> list[Family]:
    """Both overlays of every symbol at once (``build`` over a whole universe): puts, then calls."""
    sig = _Signals.over(flat)
    sigma = np.nan_to_num(sig.vol20)
    n_bars = len(flat.close)
    families = []
    for right in ("P", "C"):
        made = _overlay(flat.close, flat.starts, sig, p, right, lean=True)

        def make(i: int, k: int, right: str = right, made: _Overlay = made) -> Setup:
            bars, own, cut = flat.tail(i, k), sig.cut(flat, i, k), made.cut(flat, i, k)
            if right == "P":  # the lean put stop, at every bar of the candidate's setup
                cut = replace(cut, stop=_put_stop(bars.close, cut.strike, own.vol20, p, _EVERY_BAR))
            return options_setup(bars, p, right, own, cut)

        def outcome(
            flat: FlatBars,
            _family: Family,
            entries: NDArray[np.int64],
            right: str = right,
            strike: Array = made.strike,
        ) -> tuple[Array, NDArray[np.int64]]:
            seg = np.searchsorted(flat.starts, entries, side="right") - 1
            return _flat_outcomes(
                right == "C",
                flat.open,
                flat.close,
                strike,
                sigma,
                entries,
                flat.starts[seg],
                flat.starts[seg + 1],
                int(p["horizon"]),
                p["rate"],
            )

        families.append(
            Family(
                entry=made.entry,
                exit=np.zeros(n_bars, dtype=np.bool_),
                score=np.nan_to_num(made.score, nan=0.0),
                stop=made.stop,
                target=np.full(n_bars, np.inf),
                make=make,
                atr=sig.atr14,
                outcome=outcome,
            )
        )
    return families


def option_legs(
    setup: Setup,
    t: int,
    capital: float,
    prices: Mapping[str, float],
    holdings: Mapping[str, float],
    asof: datetime,
    fractional: bool,
) -> CardLegs:
    """Round lots of 100 shares with one contract each; a held position is covered first."""
    symbol = setup.symbols[0]
    opt = setup.option(t)
    price = prices.get(symbol, 0.0)
    if opt is None or not price > 0:
        return CardLegs((), 0.0)
    if not OCC_FIRST_YEAR <= opt.expiry.year <= OCC_LAST_YEAR:
        # an OCC symbol writes the expiry as YYMMDD, so only 2000..2099 can be named (history
        # that starts before 2000 has no listed contract to trade): held back, never raised
        return CardLegs((), 0.0, unavailable="expiry_outside_occ_range")
    contract = OptionContract(underlying=symbol, expiry=opt.expiry, strike=opt.strike, right=opt.right)  # type: ignore[arg-type]
    years = contract.years_to_expiry(asof)
    model = black_scholes(
        opt.right,  # type: ignore[arg-type]
        underlying_price=price,
        strike=opt.strike,
        expiry_years=years,
        volatility=opt.volatility,
        rate=setup.params["rate"],
    )
    held_lots = math.floor(max(holdings.get(symbol, 0.0), 0.0) / MULTIPLIER)
    per_lot = MULTIPLIER * (price + (model.price if opt.side is Side.BUY else -model.price))
    if held_lots == 0 and opt.side is Side.SELL:
        # the call is written only against shares already held: sent with the stock purchase it
        # would be a naked call until the stock filled
        return CardLegs((), 0.0, unavailable="uncovered_call")
    if held_lots > 0:  # protect or write against shares already held: the card adds the option only
        lots = held_lots
        legs: tuple[Leg, ...] = (Leg(contract.symbol, opt.side, float(lots)),)
        used = lots * MULTIPLIER * model.price
        stock_shares = 0.0
    else:
        lots = math.floor(capital / per_lot) if per_lot > 0 else 0
        if lots < 1:
            return CardLegs((), 0.0)
        stock_shares = lots * MULTIPLIER
        stock = Leg(symbol, Side.BUY, stock_shares)
        option_leg = Leg(contract.symbol, opt.side, float(lots))
        # a put hedges: bought first; a call is written only once the shares cover it
        legs = (option_leg, stock) if opt.side is Side.BUY else (stock, option_leg)
        used = lots * per_lot
    sign = 1.0 if opt.side is Side.BUY else -1.0
    units = sign * lots * MULTIPLIER
    held_delta = stock_shares + held_lots * MULTIPLIER
    details = {
        f"ref_price:{contract.symbol}": model.price,
        "greek:delta": held_delta + units * model.delta,
        "greek:gamma": units * model.gamma,
        "greek:vega": units * model.vega * 0.01,
        "greek:theta": units * model.theta / 365.0,
        "option:strike": opt.strike,
        "option:premium": model.price,
        "option:volatility": opt.volatility,
        "option:years": years,
    }
    notes = (
        f"{contract.symbol.strip()} priced with Black-Scholes at the 20-day realized volatility "
        f"{opt.volatility:.0%}, rate {setup.params['rate']:.1%}, no dividends: no option quotes "
        f"are in the data; implied volatility is usually higher (a put costs more, a call pays more).",
        f"expiry {opt.expiry:%Y-%m-%d} (monthly, third Friday); 1 contract = 100 shares.",
    )
    return CardLegs(legs, used, details, notes)


OPTIONS = Template(
    name=NAME,
    title="Options overlay",
    rules=__doc__ or "",
    horizon_days=21,
    signals_required=("volatility20", "volatility60", "sma50", "roc20", "atr14"),
    min_history=320,
    defaults={"otm": 0.05, "put_vol_ratio": 1.2, "call_range": 0.03, "rate": 0.0, "horizon": 21.0},
    build=build,
    panel=panel,
    outcome=option_outcomes,
    card_legs=option_legs,
    exit_policy=NO_PROTECTION,
    stop_rules=frozenset({StopRule.NONE}),
)
