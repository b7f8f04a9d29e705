"""What a template is, and the one shape every template's idea takes: a ``Setup``.

A template turns bars into setups. A setup is one tradable idea over time (one symbol, a
pair, a rotation basket, a stock with its option), bar by bar: whether the entry rule holds at
that bar's close, a composite score, the signed capital weights of its legs if entered there,
and its stop, target and exit rule. The generator, research backtests and live execution all
read the same setups, so a template is written once and research has no logic of its own.

Conventions: arrays are oldest first; the value at index t uses bars up to and including t
(no look-ahead); an entry at t is filled at the next bar's open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.model import Leg, Side
from engine.model.exits import ExitPolicy, StopRule, TimeExit

if TYPE_CHECKING:
    from engine.strategies.templates.panel import Family, FlatBars

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]
Params = Mapping[str, float]

NO_PROTECTION = ExitPolicy(stop=StopRule.NONE, stop_value=0.0, target_r=None, time_exit=TimeExit.CLOSE)
"""No protective order: the horizon's time exit only (baskets, options overlays)."""


class TemplateUnavailable(Exception):
    """A template cannot build its setups this session (an RL template's model is missing or
    broken): the scan holds that template back with this reason and runs the others."""


@dataclass(frozen=True, slots=True)
class Bars:
    """One symbol's daily bars as arrays; ``dates`` are the sessions (``datetime64[D]``)."""

    symbol: str
    dates: NDArray[np.datetime64]
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array

    @classmethod
    def from_frame(cls, symbol: str, frame: pd.DataFrame) -> Bars:
        """From a frame indexed by session with open/high/low/close/volume columns."""
        index = pd.DatetimeIndex(frame.index)
        return cls(
            symbol,
            index.values.astype("datetime64[D]"),
            *(frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")),
        )

    def __len__(self) -> int:
        return len(self.close)

    @property
    def last_day(self) -> date:
        return pd.Timestamp(self.dates[-1]).date()


Panel = Mapping[str, Bars]
"""Every symbol's bars up to the as-of session (histories may start on different days)."""


@dataclass(frozen=True, slots=True)
class Aligned:
    """Several symbols on their common sessions: ``[T, k]`` matrices, columns in ``symbols`` order."""

    symbols: tuple[str, ...]
    dates: NDArray[np.datetime64]
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array


def align(panel: Panel, symbols: Sequence[str]) -> Aligned:
    """The symbols' bars on the sessions all of them have (an intersection, so no NaN)."""
    common = panel[symbols[0]].dates
    for sym in symbols[1:]:
        dates = panel[sym].dates
        if len(dates) == len(common) and np.array_equal(dates, common):
            continue  # the same sessions (the usual case): no sort
        common = np.intersect1d(common, dates, assume_unique=True)
    cols: dict[str, list[Array]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    for sym in symbols:
        bars = panel[sym]
        same = len(bars.dates) == len(common) and np.array_equal(bars.dates, common)
        idx = None if same else np.searchsorted(bars.dates, common)
        for k, out in cols.items():
            series = getattr(bars, k)
            out.append(series if idx is None else series[idx])
    shape = (len(common), len(symbols))
    mats = {k: np.column_stack(v) if v else np.empty(shape) for k, v in cols.items()}
    return Aligned(tuple(symbols), common, **mats)


@dataclass(frozen=True, slots=True)
class OptionLeg:
    """An option a setup adds to its stock position (protective put, covered call)."""

    right: str
    """"P" or "C"."""
    strike: float
    expiry: date
    premium: float
    """Model price per share of underlying at the as-of close."""
    volatility: float
    """Annualised volatility the premium was priced with."""
    contracts_per_share: float = 0.01
    side: Side = Side.BUY


@dataclass(frozen=True, slots=True)
class Setup:
    """One template's idea on one instrument set, bar by bar (length T = the aligned sessions).

    ``weights[t]`` are signed shares of the card's capital per symbol if entered at ``t``
    (the sum of absolute weights is at most 1; a long stock is ``[1.0]``, a pair ``[+w, -w']``).
    ``stop[t]`` and ``target[t]`` are the loss and gain, as fractions of the capital, at which
    the trade is closed (``inf``: none); ``exit[t]`` is the template's exit rule at ``t``'s close.
    ``components`` are the named signal series the composite ``score`` is built from.
    """

    template: str
    key: str
    symbols: tuple[str, ...]
    dates: NDArray[np.datetime64]
    open: Array
    close: Array
    entry: Mask
    exit: Mask
    score: Array
    weights: Array
    stop: Array
    target: Array
    components: Mapping[str, Array]
    reason: Callable[[int], str]
    stop_price: Callable[[int], float | None] = field(default=lambda _t: None)
    """The protective stop price of a single-stock setup at ``t`` (for the card and the order)."""
    target_price: Callable[[int], float | None] = field(default=lambda _t: None)
    option: Callable[[int], OptionLeg | None] = field(default=lambda _t: None)
    params: Params = field(default_factory=dict)
    """The template parameters the setup was built with (outcome and leg hooks read them)."""
    high: Array | None = None
    """``[T, k]`` highs and lows, for stops and targets touched within a bar (None: a setup
    built without them; the exit model then sees no range beyond the open and the close)."""
    low: Array | None = None
    atr: Array | None = None
    """ATR(14) of a single-instrument setup at each bar (the ATR exit rules read it at the signal)."""

    def __len__(self) -> int:
        return len(self.entry)

    def basket_returns(self) -> Array:
        """Daily close-to-close return of the setup's basket at its latest weights (for correlations)."""
        rets = np.full(self.close.shape, np.nan)
        rets[1:] = self.close[1:] / self.close[:-1] - 1.0
        out: Array = rets @ self.weights[-1]
        return out


OutcomeFn = Callable[["Setup", NDArray[np.int64], int], tuple[Array, NDArray[np.int64]]]
"""(setup, entry indices, horizon) -> each trade's return and exit bar (NaN / -1 when not complete)."""


@dataclass(frozen=True, slots=True)
class CardLegs:
    """What a card trades for a given capital, with the numbers and caveats that come with it."""

    legs: tuple[Leg, ...]
    capital: float
    """Money the legs commit at the prices they were sized with (gross)."""
    details: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unavailable: str = ""
    """A reason code when the card cannot be built for this account (e.g. ``uncovered_call``)."""


PanelFn = Callable[["FlatBars", Params], "list[Family]"]
"""(the universe's bars end to end, params) -> one ``Family`` per setup variant (options: put, call)."""

CardLegsFn = Callable[
    ["Setup", int, float, Mapping[str, float], Mapping[str, float], datetime, bool], CardLegs
]
"""(setup, t, capital, prices, holdings, asof, fractional) -> the legs of the card."""


@dataclass(frozen=True, slots=True)
class Template:
    """A named rule set. ``build`` is the only strategy logic; everything else reads its setups."""

    name: str
    title: str
    rules: str
    """Entry, exit, stop and target rules in words (the card detail and the docs show it)."""
    horizon_days: int
    signals_required: tuple[str, ...]
    min_history: int
    defaults: Mapping[str, float]
    build: Callable[[Panel, Params], list[Setup]]
    outcome: OutcomeFn | None = None
    """A custom trade outcome (options); ``None`` uses ``engine.strategies.outcomes.basket_outcomes``."""
    card_legs: CardLegsFn | None = None
    """Custom legs (options); ``None`` sizes the setup's weighted basket (``basket_legs``)."""
    exit_policy: ExitPolicy = field(default_factory=lambda: NO_PROTECTION)
    """How its positions leave the market (the default; ``[strategies.NAME] exit`` in
    config/strategies.toml overrides it, and ``engine.strategies.policy`` applies that)."""
    panel: PanelFn | None = None
    """The same setups over a whole universe at once (one-stock templates; see
    ``engine.strategies.templates.panel``): the scan of thousands of symbols runs this."""
    stop_rules: frozenset[StopRule] = frozenset(StopRule)
    """The stop rules its setups can be protected with (a basket's legs have no one price to
    rest a stop at; a template with no stop level of its own cannot take ``price``)."""

    def params(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """The template's parameters with configured overrides; an unknown name is refused."""
        merged = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in merged:
                known = ", ".join(sorted(merged))
                raise ValueError(f"{self.name}: unknown parameter {key!r}; expected one of {known}")
            merged[key] = float(value)
        return merged


def basket_legs(
    setup: Setup,
    t: int,
    capital: float,
    prices: Mapping[str, float],
    holdings: Mapping[str, float],
    asof: datetime,
    fractional: bool,
) -> CardLegs:
    """Quantities for ``capital`` at ``prices`` with the setup's weights at ``t``."""
    legs = []
    for sym, w in zip(setup.symbols, setup.weights[t], strict=True):
        price = prices.get(sym, 0.0)
        if w == 0.0 or not price > 0:
            continue
        qty = abs(w) * capital / price
        qty = round(float(qty), 4) if fractional else float(np.floor(qty))
        if qty > 0:
            legs.append(Leg(symbol=sym, side=Side.BUY if w > 0 else Side.SELL, quantity=qty))
    used = sum(leg.quantity * prices[leg.symbol] for leg in legs)
    return CardLegs(tuple(legs), used)


def per_symbol(setup_fn: Callable[[Bars, Params], Setup]) -> Callable[[Panel, Params], list[Setup]]:
    """The ``build`` of a one-stock template: its setup on every symbol of the panel."""

    def build(panel: Panel, p: Params) -> list[Setup]:
        return [setup_fn(bars, p) for bars in panel.values()]

    return build


def single_arrays(
    close: Array, entry: Mask, score: Array, stop_distance: Array, target_distance: Array | None
) -> tuple[Mask, Array, Array, Array]:
    """A long one-stock setup's entry, score, stop and target fractions from price distances
    (``single_setup``'s rules, elementwise, so one symbol or a whole panel give the same)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        stop = np.where(np.isfinite(stop_distance), stop_distance / close, np.inf)
        target = (
            np.full(len(close), np.inf)
            if target_distance is None
            else np.where(np.isfinite(target_distance), target_distance / close, np.inf)
        )
    final_entry = entry & np.isfinite(score) & np.isfinite(stop)
    return final_entry, np.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0), stop, target


def single_setup(
    template: str,
    bars: Bars,
    *,
    entry: Mask,
    exit: Mask,
    score: Array,
    stop_distance: Array,
    components: Mapping[str, Array],
    reason: Callable[[int], str],
    target_distance: Array | None = None,
    atr: Array | None = None,
) -> Setup:
    """A long one-stock setup; stop and target are price distances below and above the close."""
    close = bars.close
    final_entry, final_score, stop, target = single_arrays(
        close, entry, score, stop_distance, target_distance
    )

    def stop_price(t: int) -> float | None:
        d = stop_distance[t]
        return round(float(close[t] - d), 2) if np.isfinite(d) else None

    def target_price(t: int) -> float | None:
        if target_distance is None or not np.isfinite(target_distance[t]):
            return None
        return round(float(close[t] + target_distance[t]), 2)

    return Setup(
        template=template,
        key=bars.symbol,
        symbols=(bars.symbol,),
        dates=bars.dates,
        open=bars.open[:, None],
        close=close[:, None],
        entry=final_entry,
        exit=exit,
        score=final_score,
        weights=np.ones((len(close), 1)),
        stop=stop,
        target=target,
        components=components,
        reason=reason,
        stop_price=stop_price,
        target_price=target_price,
        high=bars.high[:, None],
        low=bars.low[:, None],
        atr=atr,
    )
