"""The one entry point: :func:`optimize` estimates, dispatches to a method and reports in symbols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
import pandas as pd

from engine.portfolio.optimize.black_litterman import Views, implied_returns, posterior
from engine.portfolio.optimize.constraints import Constraints, FloatArray, binding, compile_constraints
from engine.portfolio.optimize.cvar import min_cvar
from engine.portfolio.optimize.estimators import (
    CovarianceMethod,
    covariance,
    expected_returns,
    returns_matrix,
)
from engine.portfolio.optimize.heuristics import equal_weight, inverse_volatility
from engine.portfolio.optimize.hrp import hierarchical_risk_parity
from engine.portfolio.optimize.mean_variance import max_sharpe, mean_variance, min_variance
from engine.portfolio.optimize.result import OptimizationResult, Solution
from engine.portfolio.optimize.risk_parity import risk_contributions, risk_parity


class Method(StrEnum):
    EQUAL_WEIGHT = "equal_weight"
    INVERSE_VOLATILITY = "inverse_volatility"
    MIN_VARIANCE = "min_variance"
    MAX_SHARPE = "max_sharpe"
    MEAN_VARIANCE = "mean_variance"
    RISK_PARITY = "risk_parity"
    HRP = "hrp"
    MIN_CVAR = "min_cvar"
    BLACK_LITTERMAN = "black_litterman"


def _vector(
    values: Mapping[str, float] | pd.Series | FloatArray | None, symbols: Sequence[str]
) -> FloatArray | None:
    if values is None:
        return None
    if isinstance(values, np.ndarray):
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (len(symbols),):
            raise ValueError(f"expected {len(symbols)} values, got shape {arr.shape}")
        return arr
    missing = [s for s in symbols if s not in values]
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return np.array([float(values[s]) for s in symbols])


def optimize(
    method: Method | str,
    returns: pd.DataFrame | FloatArray,
    constraints: Constraints | None = None,
    *,
    current: Mapping[str, float] | pd.Series | None = None,
    symbols: Sequence[str] | None = None,
    expected: Mapping[str, float] | pd.Series | FloatArray | None = None,
    covariance_method: CovarianceMethod = "sample",
    risk_free_rate: float = 0.0,
    target_return: float | None = None,
    target_volatility: float | None = None,
    risk_aversion: float = 2.5,
    confidence: float = 0.95,
    views: Views | None = None,
    market_weights: Mapping[str, float] | pd.Series | FloatArray | None = None,
    tau: float = 0.05,
) -> OptimizationResult:
    """Optimal weights for ``returns`` (daily simple returns, one column per symbol) under ``constraints``.

    ``expected`` overrides the annualised mean returns; ``covariance_method`` picks the sample or
    Ledoit-Wolf covariance. ``risk_free_rate`` (annual) enters max Sharpe, the book's expected return
    and the Sharpe ratio reported. ``target_return`` / ``target_volatility`` / ``risk_aversion`` drive
    mean-variance (and Black-Litterman's final step); ``confidence`` is CVaR's level. Black-Litterman
    takes ``market_weights`` (market caps or weights; equal weights if omitted), ``views`` and ``tau``.
    Raises ``ValueError`` naming the constraint when the constraints cannot all be met.
    """
    kind = Method(method)
    data, names = returns_matrix(returns, symbols)
    book = compile_constraints(constraints or Constraints(), names, current)
    cov = covariance(data, covariance_method)
    mu_given = _vector(expected, names)
    mu = expected_returns(data) if mu_given is None else mu_given
    solution: Solution
    if kind is Method.EQUAL_WEIGHT:
        solution = equal_weight(book)
    elif kind is Method.INVERSE_VOLATILITY:
        solution = inverse_volatility(cov, book)
    elif kind is Method.MIN_VARIANCE:
        solution = min_variance(cov, book)
    elif kind is Method.MAX_SHARPE:
        solution = max_sharpe(mu, cov, book, risk_free_rate)
    elif kind is Method.MEAN_VARIANCE:
        solution = mean_variance(
            mu,
            cov,
            book,
            target_return=target_return,
            target_volatility=target_volatility,
            risk_aversion=risk_aversion,
            risk_free_rate=risk_free_rate,
        )
    elif kind is Method.RISK_PARITY:
        solution = risk_parity(cov, book)
    elif kind is Method.HRP:
        solution = hierarchical_risk_parity(cov, book)
    elif kind is Method.MIN_CVAR:
        solution = min_cvar(data, book, confidence)
    else:
        caps = _vector(market_weights, names)
        prior = implied_returns(
            cov, np.ones(len(names)) if caps is None else caps, risk_aversion, risk_free_rate
        )
        post = posterior(cov, prior, views, tau=tau)
        mu, cov = post.returns, post.covariance
        solution = mean_variance(
            mu,
            cov,
            book,
            target_return=target_return,
            target_volatility=target_volatility,
            risk_aversion=risk_aversion,
            risk_free_rate=risk_free_rate,
        )
    active = binding(solution.weights, book)
    if kind in (Method.MEAN_VARIANCE, Method.BLACK_LITTERMAN):
        active += _targets_reached(
            solution.weights, mu, cov, book.invested, risk_free_rate, target_return, target_volatility
        )
    return report(kind, solution, book.symbols, mu, cov, risk_free_rate, active)


def _targets_reached(
    w: FloatArray,
    mu: FloatArray,
    cov: FloatArray,
    invested: float,
    risk_free_rate: float,
    target_return: float | None,
    target_volatility: float | None,
) -> tuple[str, ...]:
    """``target_return`` / ``target_volatility`` when the solution sits on them (within 1e-6)."""
    out: tuple[str, ...] = ()
    if (
        target_return is not None
        and abs(float(mu @ w) + risk_free_rate * (1.0 - invested) - target_return) <= 1e-6
    ):
        out += ("target_return",)
    if target_volatility is not None and abs(float(np.sqrt(w @ cov @ w)) - target_volatility) <= 1e-6:
        out += ("target_volatility",)
    return out


def report(
    method: Method,
    solution: Solution,
    symbols: Sequence[str],
    mu: FloatArray,
    cov: FloatArray,
    risk_free_rate: float,
    active: tuple[str, ...],
) -> OptimizationResult:
    """``solution`` in symbols, with the book's annualised return, volatility and Sharpe ratio."""
    w = solution.weights
    cash = 1.0 - float(w.sum())
    ret = float(mu @ w) + risk_free_rate * cash
    vol = float(np.sqrt(max(float(w @ cov @ w), 0.0)))
    index = pd.Index(list(symbols))
    return OptimizationResult(
        method=method.value,
        weights=pd.Series(w, index=index, name="weight"),
        cash=cash,
        expected_return=ret,
        volatility=vol,
        sharpe=(ret - risk_free_rate) / vol if vol > 0.0 else float("nan"),
        risk_contributions=pd.Series(risk_contributions(w, cov), index=index, name="risk_contribution"),
        binding=active,
        objective=solution.objective,
        status=solution.status,
        message=solution.message,
    )
