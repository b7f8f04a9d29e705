"""The numba indicator kernels against independent references on the shipped real bars.

References are pandas (rolling / ewm / pct_change) or the textbook formula written plainly here,
never the kernels' own helpers. Every series is also checked with a leading-NaN history (GOOG on
AAPL's sessions, as in an aligned panel), and the warm-up length is asserted exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.signals import indicators as ind

Array = ind.Array
Bars = dict[str, Array]

SERIES = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN", "SPX", "GOOG_ALIGNED")
COLUMNS = ("open", "high", "low", "close", "volume")
RTOL = 1e-9


@pytest.fixture(scope="module")
def frames(shipped_bars: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each shipped symbol's bars plus ``bench`` (the SPX close on the same sessions), and
    ``GOOG_ALIGNED``: GOOG on AAPL's sessions, so its history starts with ~1100 NaN bars."""
    bars = shipped_bars
    out = {}
    for symbol, frame in bars.items():
        out[symbol] = frame.assign(bench=bars["SPX"]["close"].reindex(frame.index))
    aligned = bars["GOOG"].reindex(bars["AAPL"].index)
    out["GOOG_ALIGNED"] = aligned.assign(bench=bars["SPX"]["close"].reindex(aligned.index))
    return out


@pytest.fixture(params=SERIES)
def bars(request: pytest.FixtureRequest, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frame: pd.DataFrame = frames[request.param]
    return frame


def lead(s: pd.Series) -> int:
    """Number of leading NaN bars (where the symbol's history starts)."""
    return int(np.argmax(s.notna().to_numpy()))


def assert_warmup(out: Array, first: int) -> None:
    """NaN exactly before ``first``, a finite value at ``first``."""
    assert np.isnan(out[:first]).all(), f"a value before index {first}"
    assert np.isfinite(out[first]), f"no value at index {first}"


def assert_close(out: Array, ref: pd.Series | Array, rtol: float = RTOL, atol: float = 0.0) -> None:
    np.testing.assert_allclose(out, np.asarray(ref, dtype=np.float64), rtol=rtol, atol=atol)


def ref_std(x: pd.Series, n: int, ddof: int) -> Array:
    """Standard deviation of each window, two-pass per window (numpy), NaN for a window with NaN.

    pandas' online rolling variance is not used as the reference here: on SPX it drifts by ~1e-9
    relative (more than the kernels' own error, checked against exact rational arithmetic).
    """
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = np.lib.stride_tricks.sliding_window_view(x.to_numpy(), n).std(axis=1, ddof=ddof)
    return out


def ref_smooth(x: pd.Series, n: int, alpha: float) -> Array:
    """SMA seed over the first n valid values, then pandas' recursive ewm (adjust=False)."""
    out = np.full(len(x), np.nan)
    f = lead(x)
    if len(x) >= f + n:
        seed = x.iloc[f : f + n].mean()
        tail = pd.concat([pd.Series([seed]), x.iloc[f + n :]], ignore_index=True)
        out[f + n - 1 :] = tail.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


# --- against references on real data -------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 20, 200])
def test_sma(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    out = ind.sma(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n - 1)
    assert_close(out, close.rolling(n).mean())


@pytest.mark.parametrize("n", [1, 12, 26])
def test_ema(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    out = ind.ema(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n - 1)
    assert_close(out, ref_smooth(close, n, 2 / (n + 1)))
    f = lead(close)
    assert out[f + n - 1] == pytest.approx(close.iloc[f : f + n].mean(), rel=1e-12)


@pytest.mark.parametrize("n", [1, 14])
def test_wilder(bars: pd.DataFrame, n: int) -> None:
    volume = bars["volume"]
    out = ind.wilder(volume.to_numpy(), n)
    assert_warmup(out, lead(volume) + n - 1)
    assert_close(out, ref_smooth(volume, n, 1 / n))


@pytest.mark.parametrize("n", [2, 14])
def test_rsi(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    d = close.diff()
    ag = ref_smooth(d.clip(lower=0), n, 1 / n)
    al = ref_smooth((-d).clip(lower=0), n, 1 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = 100 - 100 / (1 + ag / al)
    out = ind.rsi(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n)
    assert_close(out, ref)


def test_bollinger(bars: pd.DataFrame) -> None:
    close = bars["close"]
    mid_ref = close.rolling(20).mean()
    sd = ref_std(close, 20, 0)
    mid, upper, lower, pct_b = ind.bollinger(close.to_numpy(), 20, 2.0)
    for out in (mid, upper, lower, pct_b):
        assert_warmup(out, lead(close) + 19)
    assert_close(mid, mid_ref)
    assert_close(upper, mid_ref + 2 * sd)
    assert_close(lower, mid_ref - 2 * sd)
    assert_close(pct_b, (close - (mid_ref - 2 * sd)) / (4 * sd), rtol=1e-8, atol=1e-10)
    _, up3, lo3, pb3 = ind.bollinger(close.to_numpy(), 10, 3.0)
    sd10 = ref_std(close, 10, 0)
    assert_close(up3 - lo3, 6 * sd10)
    assert_close(pb3, (close - (close.rolling(10).mean() - 3 * sd10)) / (6 * sd10), rtol=1e-8, atol=1e-10)


def test_atr(bars: pd.DataFrame) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1, skipna=True)
    tr[h.isna()] = np.nan
    out = ind.atr(h.to_numpy(), lo.to_numpy(), c.to_numpy(), 14)
    assert_warmup(out, lead(c) + 13)
    assert_close(out, ref_smooth(tr, 14, 1 / 14))
    f = lead(c)
    assert out[f + 13] == pytest.approx(
        np.mean([h.iloc[f] - lo.iloc[f], *tr.iloc[f + 1 : f + 14]]), rel=1e-12
    )


def test_macd(bars: pd.DataFrame) -> None:
    close = bars["close"]
    line_ref = ref_smooth(close, 12, 2 / 13) - ref_smooth(close, 26, 2 / 27)
    signal_ref = ref_smooth(pd.Series(line_ref), 9, 2 / 10)
    line, signal, hist = ind.macd(close.to_numpy())
    f = lead(close)
    assert_warmup(line, f + 25)
    assert_warmup(signal, f + 33)
    assert_warmup(hist, f + 33)
    assert_close(line, line_ref, atol=1e-10)
    assert_close(signal, signal_ref, atol=1e-10)
    assert_close(hist, line_ref - signal_ref, atol=1e-10)


def test_returns(bars: pd.DataFrame) -> None:
    close = bars["close"]
    out = ind.returns(close.to_numpy())
    assert_warmup(out, lead(close) + 1)
    assert_close(out, close.pct_change(fill_method=None), rtol=1e-12)


@pytest.mark.parametrize("n", [2, 20, 60])
def test_rolling_volatility(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    ref = ref_std(close.pct_change(fill_method=None), n, 1) * math.sqrt(252)
    out = ind.rolling_volatility(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n)
    assert_close(out, ref)
    assert_close(ind.rolling_volatility(close.to_numpy(), n, 52.0), ref * math.sqrt(52 / 252))


@pytest.mark.parametrize("n", [2, 20, 100])
def test_zscore(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    rolling = close.rolling(n)
    with np.errstate(invalid="ignore"):
        ref = (close - rolling.mean()) / ref_std(close, n, 1)
    ref[rolling.max() == rolling.min()] = np.nan  # n equal closes: no deviation, no z-score
    out = ind.zscore(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n - 1)
    assert_close(out, ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n", [1, 20, 55])
def test_donchian_and_breakout(bars: pd.DataFrame, n: int) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    upper, lower = ind.donchian(h.to_numpy(), lo.to_numpy(), n)
    up_ref = h.rolling(n).max().shift(1)
    lo_ref = lo.rolling(n).min().shift(1)
    assert_warmup(upper, lead(c) + n)
    assert_warmup(lower, lead(c) + n)
    np.testing.assert_array_equal(upper, up_ref.to_numpy())
    np.testing.assert_array_equal(lower, lo_ref.to_numpy())
    signal = ind.donchian_breakout(h.to_numpy(), lo.to_numpy(), c.to_numpy(), n)
    ref = np.where(c > up_ref, 1.0, np.where(c < lo_ref, -1.0, 0.0))
    ref[up_ref.isna().to_numpy()] = np.nan
    np.testing.assert_array_equal(signal, ref)
    assert {1.0, -1.0, 0.0} <= set(signal[np.isfinite(signal)].tolist())


@pytest.mark.parametrize("n", [1, 20, 60])
def test_roc(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"]
    out = ind.roc(close.to_numpy(), n)
    assert_warmup(out, lead(close) + n)
    assert_close(out, close.pct_change(n, fill_method=None), rtol=1e-12)


def test_volume_momentum(bars: pd.DataFrame) -> None:
    volume = bars["volume"]
    out = ind.volume_momentum(volume.to_numpy())
    assert_warmup(out, lead(volume) + 59)
    assert_close(out, volume.rolling(20).mean() / volume.rolling(60).mean())
    assert_close(
        ind.volume_momentum(volume.to_numpy(), 5, 3), volume.rolling(5).mean() / volume.rolling(3).mean()
    )


@pytest.mark.parametrize("n", [2, 20, 120])
def test_rolling_correlation_and_beta(bars: pd.DataFrame, n: int) -> None:
    r: pd.Series = bars["close"].pct_change(fill_method=None)
    m: pd.Series = bars["bench"].pct_change(fill_method=None)
    if r.equals(m):  # SPX against itself: a different pair, still real
        m = bars["volume"].pct_change(fill_method=None)
    corr = ind.rolling_correlation(r.to_numpy(), m.to_numpy(), n)
    beta = ind.rolling_beta(r.to_numpy(), m.to_numpy(), n)
    first = max(lead(r), lead(m)) + n - 1
    assert_warmup(corr, first)
    assert_warmup(beta, first)
    assert_close(corr, r.rolling(n).corr(m), rtol=1e-8, atol=1e-10)
    assert_close(beta, r.rolling(n).cov(m) / m.rolling(n).var(), rtol=1e-8, atol=1e-10)
    if n > 2:
        assert np.nanmax(np.abs(corr)) < 1.0
    else:
        np.testing.assert_allclose(np.abs(corr[np.isfinite(corr)]), 1.0, atol=1e-12)  # two points: a line


def test_leading_nan_panel_is_real(frames: dict[str, pd.DataFrame]) -> None:
    """The aligned GOOG series really does start with NaN (so every test above covers it)."""
    assert lead(frames["GOOG_ALIGNED"]["close"]) > 1000
    assert lead(frames["AMZN"]["bench"]) > 0


# --- missing data: causality, leading NaN, gaps -----------------------------------------------------


def _flat(*outs: Array | tuple[Array, ...]) -> tuple[Array, ...]:
    flat: list[Array] = []
    for o in outs:
        flat.extend(o if isinstance(o, tuple) else (o,))
    return tuple(flat)


INDICATORS: dict[str, Callable[[Bars], tuple[Array, ...]]] = {
    "sma": lambda b: _flat(ind.sma(b["close"], 10)),
    "ema": lambda b: _flat(ind.ema(b["close"], 10)),
    "wilder": lambda b: _flat(ind.wilder(b["close"], 10)),
    "rsi": lambda b: _flat(ind.rsi(b["close"], 5)),
    "bollinger": lambda b: _flat(ind.bollinger(b["close"], 10, 2.0)),
    "atr": lambda b: _flat(ind.atr(b["high"], b["low"], b["close"], 5)),
    "macd": lambda b: _flat(ind.macd(b["close"], 3, 6, 4)),
    "returns": lambda b: _flat(ind.returns(b["close"])),
    "rolling_volatility": lambda b: _flat(ind.rolling_volatility(b["close"], 10)),
    "zscore": lambda b: _flat(ind.zscore(b["close"], 10)),
    "donchian": lambda b: _flat(ind.donchian(b["high"], b["low"], 10)),
    "donchian_breakout": lambda b: _flat(ind.donchian_breakout(b["high"], b["low"], b["close"], 10)),
    "roc": lambda b: _flat(ind.roc(b["close"], 10)),
    "volume_momentum": lambda b: _flat(ind.volume_momentum(b["volume"], 5, 10)),
    "rolling_correlation": lambda b: _flat(ind.rolling_correlation(b["close"], b["volume"], 10)),
    "rolling_beta": lambda b: _flat(ind.rolling_beta(b["close"], b["volume"], 10)),
}
POINTWISE = {"returns", "roc"}
"""Pointwise definitions: a gap only blanks the values whose own inputs are missing."""


@pytest.fixture(scope="module")
def sample(frames: dict[str, pd.DataFrame]) -> Bars:
    """400 real AAPL bars as plain arrays."""
    frame = frames["AAPL"].iloc[1000:1400]
    return {k: frame[k].to_numpy(copy=True) for k in COLUMNS}


def _slice(bars: Bars, start: int, stop: int | None = None) -> Bars:
    return {k: v[start:stop].copy() for k, v in bars.items()}


@pytest.mark.parametrize("name", INDICATORS)
def test_no_look_ahead(name: str, sample: Bars) -> None:
    full = INDICATORS[name](sample)
    for stop in (37, 200, 399):
        for whole, prefix in zip(full, INDICATORS[name](_slice(sample, 0, stop)), strict=True):
            np.testing.assert_array_equal(whole[:stop], prefix)


@pytest.mark.parametrize("name", INDICATORS)
def test_leading_nan_shifts_the_output(name: str, sample: Bars) -> None:
    k = 23
    padded = {key: np.concatenate([np.full(k, np.nan), v]) for key, v in sample.items()}
    for shifted, plain in zip(INDICATORS[name](padded), INDICATORS[name](sample), strict=True):
        assert np.isnan(shifted[:k]).all()
        np.testing.assert_array_equal(shifted[k:], plain)


@pytest.mark.parametrize("name", sorted(set(INDICATORS) - POINTWISE))
def test_missing_bar_restarts_the_warm_up(name: str, sample: Bars) -> None:
    """An interior gap blanks the output there and the indicator restarts after it, exactly as if
    the series began on the next bar (windows containing the gap are NaN)."""
    gap = 150
    holed = {k: v.copy() for k, v in sample.items()}
    for k in COLUMNS:
        holed[k][gap] = np.nan
    before = INDICATORS[name](_slice(sample, 0, gap))
    after = INDICATORS[name](_slice(sample, gap + 1))
    for out, b, a in zip(INDICATORS[name](holed), before, after, strict=True):
        np.testing.assert_array_equal(out[:gap], b)
        np.testing.assert_array_equal(out[gap + 1 :], a)
        if name != "donchian":  # the channel at t covers the bars before t only
            assert np.isnan(out[gap])


def test_one_missing_field_makes_the_bar_missing(sample: Bars) -> None:
    holed = {k: v.copy() for k, v in sample.items()}
    holed["high"][150] = np.nan
    out = ind.atr(holed["high"], holed["low"], holed["close"], 5)
    np.testing.assert_array_equal(
        out[151:], ind.atr(sample["high"][151:], sample["low"][151:], sample["close"][151:], 5)
    )
    upper, _ = ind.donchian(holed["high"], holed["low"], 10)
    assert np.isnan(upper[151:161]).all() and np.isfinite(upper[161])


def test_pointwise_gap(sample: Bars) -> None:
    close = sample["close"].copy()
    close[150] = np.nan
    ref = pd.Series(close)
    assert_close(ind.roc(close, 10), ref.pct_change(10, fill_method=None), rtol=1e-12)
    assert_close(ind.returns(close), ref.pct_change(fill_method=None), rtol=1e-12)
    assert np.isnan(ind.roc(close, 10)[[150, 160]]).all()


def test_infinity_counts_as_missing(sample: Bars) -> None:
    close = sample["close"].copy()
    close[150] = np.inf
    holed = close.copy()
    holed[150] = np.nan
    np.testing.assert_array_equal(ind.zscore(close, 10), ind.zscore(holed, 10))
    np.testing.assert_array_equal(ind.ema(close, 10), ind.ema(holed, 10))


# --- edge cases and conventions ---------------------------------------------------------------------


def test_short_and_empty_inputs() -> None:
    x = np.arange(1.0, 6.0)
    assert np.isnan(ind.sma(x, 6)).all()
    assert np.isnan(ind.rsi(x, 5)).all()
    assert np.isnan(ind.donchian(x, x, 5)[0]).all()
    assert len(ind.sma(np.array([]), 3)) == 0
    assert np.isnan(ind.sma(np.full(30, np.nan), 3)).all()
    for out in _flat(ind.bollinger(np.array([]))):
        assert out.shape == (0,)


def test_rsi_extremes() -> None:
    up = np.arange(1.0, 40.0)
    assert (ind.rsi(up, 14)[14:] == 100.0).all()
    assert (ind.rsi(up[::-1], 14)[14:] == 0.0).all()
    assert (ind.rsi(np.full(40, 7.0), 14)[14:] == 50.0).all()


def test_constant_windows_are_exact() -> None:
    """Identical values give an exact mean and a zero deviation: ratios are NaN, not noise."""
    x = np.concatenate([np.linspace(1.0, 3.0, 30), np.full(30, 0.1), np.linspace(0.1, 2.0, 30)])
    mean = ind.sma(x, 10)
    flat = slice(39, 61)  # the windows inside x[30:61] == 0.1
    assert (mean[flat] == 0.1).all()
    _, upper, lower, pct_b = ind.bollinger(x, 10)
    assert (upper[flat] == 0.1).all() and (lower[flat] == 0.1).all()
    assert np.isnan(pct_b[flat]).all() and np.isfinite(pct_b[38]) and np.isfinite(pct_b[61])
    z = ind.zscore(x, 10)
    assert np.isnan(z[flat]).all() and np.isfinite(z[38]) and np.isfinite(z[61])
    y = np.sin(np.arange(90.0))
    assert np.isnan(ind.rolling_beta(y, x, 10)[flat]).all()
    assert np.isnan(ind.rolling_correlation(y, x, 10)[flat]).all()
    assert (ind.rolling_beta(x, y, 10)[flat] == 0.0).all()  # only var(x) of the regressor matters


def _two_pass_sd(x: Array, n: int) -> Array:
    out = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        w = x[t - n + 1 : t + 1].tolist()
        m = math.fsum(w) / n
        out[t] = math.sqrt(math.fsum((v - m) ** 2 for v in w) / n)
    return out


def test_rolling_std_survives_scale_changes() -> None:
    """Windowed updates must not leave the error of huge values behind in a small variance."""
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            1e9 + rng.normal(0, 1e3, 300),  # large level, moderate spread
            1e-3 * (1 + rng.normal(0, 1e-3, 300)),  # tiny level and spread right after
            np.cumsum(rng.normal(0, 1, 300)) + 50,
            1e6 + rng.normal(0, 1e-3, 300),  # big offset, small spread (cancellation-prone)
        ]
    )
    n = 20
    mid, upper, _, _ = ind.bollinger(x, n, 1.0)
    ref = _two_pass_sd(x, n)
    np.testing.assert_allclose(upper - mid, ref, rtol=1e-6)  # bounded by the offset/spread ratio
    sd = (upper - mid)[n - 1 :]
    ok = np.abs(x[n - 1 :]) < 1e5
    np.testing.assert_allclose(sd[ok], ref[n - 1 :][ok], rtol=1e-10)


def test_argument_checks() -> None:
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        ind.sma(x, 0)
    with pytest.raises(ValueError, match="n must be >= 2"):
        ind.zscore(x, 1)
    with pytest.raises(ValueError, match="equal lengths"):
        ind.atr(x, x, x[:-1])
    with pytest.raises(ValueError, match="1-D"):
        ind.sma(x.reshape(2, 5), 2)
    with pytest.raises(ValueError, match="fast must be < slow"):
        ind.macd(x, 26, 12)
    with pytest.raises(ValueError, match="k must be"):
        ind.bollinger(x, 5, 0.0)
    with pytest.raises(TypeError):
        ind.sma(x, 2.5)  # type: ignore[arg-type]
    assert_close(ind.sma(list(range(10)), 2), pd.Series(range(10)).rolling(2).mean())  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------------

_steps = hnp.arrays(np.float64, st.integers(2, 120), elements=st.floats(-0.2, 0.2))


def _path(steps: Array, flat_every: int) -> Array:
    """A positive price path; every ``flat_every``-th step is zero so flat stretches occur."""
    steps = steps.copy()
    if flat_every:
        steps[::flat_every] = 0.0
    return np.round(100.0 * np.exp(np.cumsum(steps)), 2)


@settings(deadline=None, max_examples=200)
@given(_steps, st.integers(0, 3), st.integers(1, 30))
def test_rsi_is_within_0_and_100(steps: Array, flat_every: int, n: int) -> None:
    out = ind.rsi(_path(steps, flat_every), n)
    values = out[np.isfinite(out)]
    assert ((values >= 0.0) & (values <= 100.0)).all()
    assert np.isnan(out[: min(n, len(out))]).all()


@settings(deadline=None, max_examples=200)
@given(_steps, st.integers(0, 3), st.integers(2, 30), st.floats(0.5, 3.0))
def test_bollinger_bands_are_ordered_and_pct_b_bounded(
    steps: Array, flat_every: int, n: int, k: float
) -> None:
    close = _path(steps, flat_every)
    mid, upper, lower, pct_b = ind.bollinger(close, n, k)
    ok = np.isfinite(mid)
    assert (lower[ok] <= mid[ok]).all() and (mid[ok] <= upper[ok]).all()
    has_b = np.isfinite(pct_b)
    assert (has_b == (ok & (upper > lower))).all()
    half = math.sqrt(n - 1) / (2 * k)  # |close - mean| <= sqrt(n - 1) * sd when close is in the window
    assert (np.abs(pct_b[has_b] - 0.5) <= half + 1e-9).all()
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = (close - lower) / (upper - lower)
    np.testing.assert_allclose(pct_b[has_b], ref[has_b], rtol=1e-12)


@settings(deadline=None, max_examples=200)
@given(_steps, hnp.arrays(np.float64, 120, elements=st.floats(0.0, 0.05)), st.integers(1, 30))
def test_donchian_upper_is_at_least_lower(steps: Array, spread: Array, n: int) -> None:
    close = _path(steps, 0)
    high = close * (1 + spread[: len(close)])
    low = close * (1 - spread[::-1][: len(close)])
    upper, lower = ind.donchian(high, low, n)
    ok = np.isfinite(upper)
    assert (ok == np.isfinite(lower)).all()
    assert (upper[ok] >= lower[ok]).all()
    signal = ind.donchian_breakout(high, low, close, n)
    assert set(signal[np.isfinite(signal)].tolist()) <= {-1.0, 0.0, 1.0}


@settings(deadline=None, max_examples=200)
@given(_steps, st.integers(0, 3), st.integers(2, 30), st.floats(-3.0, 3.0))
def test_correlation_is_bounded_and_beta_is_the_slope(
    steps: Array, flat_every: int, n: int, b: float
) -> None:
    x = _path(steps, flat_every)
    corr = ind.rolling_correlation(x, x[::-1].copy(), n)
    values = corr[np.isfinite(corr)]
    assert ((values >= -1.0) & (values <= 1.0)).all()
    beta = ind.rolling_beta(b * x + 3.0, x, n)
    ok = np.isfinite(beta)
    np.testing.assert_allclose(beta[ok], b, rtol=1e-6, atol=1e-6)


@settings(deadline=None, max_examples=300)
@given(
    hnp.arrays(
        np.float64,
        st.integers(2, 150),
        # magnitudes 1e-6 .. 1e6 (squares of far smaller deviations would underflow in any algorithm)
        elements=st.floats(1e-6, 1e6) | st.floats(-1e6, -1e-6) | st.sampled_from([0.0, 1.0, 1e6]),
    ),
    st.integers(2, 25),
)
def test_rolling_std_matches_two_pass_on_any_data(x: Array, n: int) -> None:
    """Windowed updates agree with a per-window two-pass std: scale jumps, repeats, tiny spreads."""
    mid, upper, _, _ = ind.bollinger(x, n, 1.0)
    sd = upper - mid
    ref = np.full(len(x), np.nan)
    scale = np.full(len(x), np.nan)
    if len(x) >= n:
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        ref[n - 1 :] = windows.std(axis=1)
        scale[n - 1 :] = np.abs(windows).max(axis=1)
    ok = np.isfinite(ref)
    assert (ok == np.isfinite(sd)).all()
    # absolute slack: a few thousand ulps of the window's largest value (any algorithm rounds
    # ``x - mean`` to ulps of x, and ``upper - mid`` is rounded to ulps of mid)
    assert (np.abs(sd[ok] - ref[ok]) <= 1e-9 * ref[ok] + 1e-12 * scale[ok]).all()
    z = ind.zscore(x, n)
    flat = np.isnan(z) & ok
    assert (ref[flat] <= 1e-12 * scale[flat]).all()  # NaN z-score only on (near) constant windows


@settings(deadline=None, max_examples=200)
@given(
    hnp.arrays(np.float64, st.integers(1, 120), elements=st.floats(1.0, 1000.0)),
    hnp.arrays(np.bool_, 120),
    st.integers(1, 20),
)
def test_windows_with_any_gaps_match_pandas(x: Array, holes: Array, n: int) -> None:
    """Any pattern of missing bars: the same NaN as pandas' rolling(n) (min_periods = n)."""
    x = np.where(holes[: len(x)], np.nan, x)
    s = pd.Series(x)
    np.testing.assert_allclose(ind.sma(x, n), s.rolling(n).mean().to_numpy(), rtol=1e-12)
    upper, lower = ind.donchian(x + 1.0, x - 1.0, n)
    np.testing.assert_array_equal(upper, (s + 1.0).rolling(n).max().shift(1).to_numpy())
    np.testing.assert_array_equal(lower, (s - 1.0).rolling(n).min().shift(1).to_numpy())
    np.testing.assert_allclose(ind.roc(x, n), s.pct_change(n, fill_method=None).to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("n", [5, 20])
def test_rolling_min_skips_missing_values(bars: pd.DataFrame, n: int) -> None:
    low = bars["low"].copy()
    low.iloc[:7] = np.nan  # a later start
    low.iloc[50] = np.nan  # a hole
    ref = low.rolling(n, min_periods=1).min()
    np.testing.assert_array_equal(ind.rolling_min(low.to_numpy(), n), ref.to_numpy())


@pytest.mark.parametrize("n", [20, 252])
def test_rolling_median_equals_pandas(bars: pd.DataFrame, n: int) -> None:
    close = bars["close"].copy()
    close.iloc[:7] = np.nan
    close.iloc[300] = np.nan
    ref = close.rolling(n, min_periods=1).median()
    np.testing.assert_allclose(ind.rolling_median(close.to_numpy(), n), ref.to_numpy(), rtol=0, atol=0)


def test_zscore_blend_is_the_weighted_sum_of_clipped_zscores(bars: pd.DataFrame) -> None:
    close = bars["close"].to_numpy()
    volume = bars["volume"].to_numpy().astype(float)
    volume[100] = np.nan
    ref = 0.7 * np.clip(ind.zscore(close, 60), -3, 3) - 0.3 * np.clip(ind.zscore(volume, 60), -3, 3)
    out = ind.zscore_blend([close, volume], [0.7, -0.3], 60, 3.0)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-15)
    assert np.isnan(out[100]) and np.isnan(out[:59]).all()
