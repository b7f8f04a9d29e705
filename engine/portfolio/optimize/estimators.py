"""Inputs of the optimizers: the returns matrix, expected returns and covariance, annualised.

Returns are simple daily returns, one column per symbol; rows with any missing value are dropped
(every estimator then sees the same days). Annualisation multiplies means and covariances by
:data:`PERIODS_PER_YEAR` (252 trading days), i.e. it assumes i.i.d. daily returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from engine.portfolio.optimize.constraints import FloatArray

PERIODS_PER_YEAR = 252

CovarianceMethod = Literal["sample", "ledoit_wolf"]


def returns_matrix(
    returns: pd.DataFrame | FloatArray, symbols: Sequence[str] | None = None
) -> tuple[FloatArray, tuple[str, ...]]:
    """``(T x n)`` float array of complete rows and the symbols of its columns.

    A DataFrame names its own columns; an array takes ``symbols`` or ``"0", "1", ...``.
    """
    if isinstance(returns, pd.DataFrame):
        frame = returns.dropna(how="any")
        names = tuple(str(c) for c in frame.columns) if symbols is None else tuple(symbols)
        data = frame.to_numpy(dtype=np.float64)
    else:
        data = np.asarray(returns, dtype=np.float64)
        if data.ndim != 2:
            raise ValueError(f"returns must be 2-D (days x assets), got shape {data.shape}")
        data = data[~np.isnan(data).any(axis=1)]
        names = tuple(str(j) for j in range(data.shape[1])) if symbols is None else tuple(symbols)
    if len(names) != data.shape[1]:
        raise ValueError(f"{len(names)} symbols for {data.shape[1]} return columns")
    if data.shape[0] < 2:
        raise ValueError("need at least two days of complete returns")
    return data, names


def expected_returns(data: FloatArray) -> FloatArray:
    """Arithmetic mean daily return times 252."""
    return np.asarray(data.mean(axis=0) * PERIODS_PER_YEAR, dtype=np.float64)


def sample_covariance(data: FloatArray) -> FloatArray:
    """Unbiased sample covariance (``ddof=1``) times 252."""
    return np.asarray(np.cov(data, rowvar=False, ddof=1) * PERIODS_PER_YEAR, dtype=np.float64).reshape(
        data.shape[1], data.shape[1]
    )


def ledoit_wolf(data: FloatArray) -> tuple[FloatArray, float]:
    """Ledoit-Wolf (2004) shrinkage towards a scaled identity, times 252; also the shrinkage intensity.

    With ``X`` the demeaned returns (``T x n``), ``S = X'X / T`` and ``m = tr(S) / n``, the estimate is
    ``(1 - s) S + s m I`` with ``s = min(b, d) / d``, where ``d = |S - m I|_F^2 / n`` is how far the
    sample is from the target and ``b = sum_t |x_t x_t' - S|_F^2 / (n T^2)`` estimates the sampling
    noise of ``S``. The same formula as scikit-learn's ``ledoit_wolf`` (not a dependency here).
    Shrinking pulls extreme eigenvalues in, which keeps the inverse (minimum variance, Sharpe) stable
    when there are few days per asset.
    """
    t, n = data.shape
    x = data - data.mean(axis=0)
    sample = x.T @ x / t
    m = float(np.trace(sample)) / n
    squared = x**2
    b_sum = float((squared.T @ squared).sum()) / t - float((sample**2).sum())
    b = b_sum / (n * t)
    d = float(((sample - m * np.eye(n)) ** 2).sum()) / n
    shrinkage = 0.0 if d == 0.0 else min(b, d) / d
    shrunk = (1.0 - shrinkage) * sample + shrinkage * m * np.eye(n)
    return np.asarray(shrunk * PERIODS_PER_YEAR, dtype=np.float64), shrinkage


def covariance(data: FloatArray, method: CovarianceMethod = "sample") -> FloatArray:
    """Annualised covariance by ``method``."""
    if method == "sample":
        return sample_covariance(data)
    if method == "ledoit_wolf":
        return ledoit_wolf(data)[0]
    raise ValueError(f"unknown covariance method {method!r} (sample, ledoit_wolf)")
