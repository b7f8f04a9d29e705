"""Every method meets every constraint (hypothesis); infeasible sets fail loudly, naming the constraint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.portfolio.optimize import Constraints, Method, Views, optimize
from tests.engine.portfolio.test_optimize_support import SECTORS, five_returns, panel_returns

TOL = 1e-6
METHODS = tuple(Method)
KNOWN = ("max_weight", "sector_cap", "min_weight", "turnover")


def assert_meets_constraints(weights: pd.Series, constraints: Constraints, current: pd.Series | None) -> None:
    invested = 1.0 - constraints.cash_buffer
    assert weights.sum() == pytest.approx(invested, abs=TOL)
    if constraints.max_weight is not None:
        assert weights.abs().max() <= constraints.max_weight + TOL
    if constraints.long_only:
        assert weights.min() >= -TOL
    if constraints.min_weight is not None:
        assert weights.min() >= constraints.min_weight - TOL
    if constraints.sector_cap is not None:
        sectors = pd.Series(constraints.sectors).reindex(weights.index).dropna()
        by_sector = weights[sectors.index].groupby(sectors).sum()
        assert by_sector.abs().max() <= constraints.sector_cap + TOL
    if constraints.turnover is not None and current is not None:
        assert (
            weights - current.reindex(weights.index).fillna(0.0)
        ).abs().sum() <= constraints.turnover + TOL


def assert_no_weights_exist(names: list[str], constraints: Constraints, current: pd.Series | None) -> None:
    """An independent feasibility problem (cvxpy) agrees that no weights meet ``constraints``."""
    cp = pytest.importorskip("cvxpy")

    w = cp.Variable(len(names))
    rows = [cp.sum(w) == 1.0 - constraints.cash_buffer]
    if constraints.max_weight is not None:
        rows += [cp.abs(w) <= constraints.max_weight]
    if constraints.long_only:
        rows += [w >= 0]
    if constraints.min_weight is not None:
        rows += [w >= constraints.min_weight]
    if constraints.sector_cap is not None:
        for sector in {constraints.sectors[s] for s in names if s in constraints.sectors}:
            members = [j for j, s in enumerate(names) if constraints.sectors.get(s) == sector]
            rows += [cp.abs(cp.sum(w[members])) <= constraints.sector_cap]
    if constraints.turnover is not None and current is not None:
        rows += [cp.sum(cp.abs(w - current.reindex(names).fillna(0.0).to_numpy())) <= constraints.turnover]
    problem = cp.Problem(cp.Minimize(0), rows)
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.INFEASIBLE, problem.status


@st.composite
def cases(draw: st.DrawFn) -> tuple[pd.DataFrame, Constraints, pd.Series | None]:
    """A random subset of the panel, caps, sector caps, buffer, floor and (maybe) a turnover budget."""
    names = draw(st.lists(st.sampled_from(sorted(SECTORS)), min_size=6, max_size=12, unique=True))
    returns = panel_returns()[names].iloc[-750:]
    n = len(names)
    cash = draw(st.sampled_from([0.0, 0.05, 0.2]))
    cap = draw(st.floats(1.15 * (1.0 - cash) / n, 0.5))
    floor = draw(st.one_of(st.none(), st.floats(0.0, 0.5 * (1.0 - cash) / n)))
    current = None
    turnover = None
    if draw(st.booleans()):
        raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))) + 0.01
        current = pd.Series(raw / raw.sum() * draw(st.floats(0.5, 1.0)), index=names)
        turnover = draw(st.floats(0.05, 1.0))
    constraints = Constraints(
        max_weight=cap,
        sector_cap=draw(st.floats(0.15, 0.6)),
        sectors=SECTORS,
        long_only=draw(st.booleans()),
        cash_buffer=cash,
        turnover=turnover,
        min_weight=floor,
    )
    return returns, constraints, current


def run(
    method: Method, returns: pd.DataFrame, constraints: Constraints, current: pd.Series | None
) -> pd.Series:
    views = Views.absolute(list(returns.columns), {returns.columns[0]: 0.1})
    result = optimize(method, returns, constraints, current=current, views=views, target_volatility=None)
    return result.weights


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_method_meets_every_constraint(
    case: tuple[pd.DataFrame, Constraints, pd.Series | None],
) -> None:
    returns, constraints, current = case
    refusals: set[str] = set()
    solved = 0
    for method in METHODS:
        try:
            weights = run(method, returns, constraints, current)
        except ValueError as exc:
            # Infeasible draws (sector caps too tight, turnover too small) must say which constraint.
            assert str(exc).startswith(KNOWN), f"{method}: {exc}"
            refusals.add(str(exc))
            continue
        assert_meets_constraints(weights, constraints, current)
        solved += 1
    # Refusals concern the set, not a method: all or none refuse, and then the set is truly empty.
    assert len(refusals) <= 1
    if refusals:
        assert solved == 0, refusals
        assert_no_weights_exist(list(returns.columns), constraints, current)


def test_five_assets_under_a_fifteen_percent_cap_without_cash_is_refused() -> None:
    returns = five_returns()
    for method in METHODS:
        with pytest.raises(
            ValueError, match=r"^max_weight: 5 assets can hold at most 0\.75.*cash_buffer >= 0\.25"
        ):
            optimize(method, returns, Constraints())


def test_the_same_five_assets_with_the_suggested_cash_buffer_fill_every_cap() -> None:
    returns = five_returns()
    for method in METHODS:
        result = optimize(method, returns, Constraints(cash_buffer=0.25))
        np.testing.assert_allclose(result.weights.to_numpy(), 0.15, atol=1e-9)
        assert result.cash == pytest.approx(0.25, abs=1e-9)


def test_infeasible_sector_caps_floors_and_turnover_name_their_constraint() -> None:
    returns = panel_returns()[["JNJ", "LLY", "MRK", "PFE", "KO"]]
    only_health = Constraints(max_weight=0.5, sector_cap=0.3, sectors=SECTORS)
    with pytest.raises(ValueError, match=r"^max_weight/sector_cap: 5 assets can hold at most 0\.6"):
        optimize("min_variance", returns, only_health)
    with pytest.raises(ValueError, match=r"^min_weight: the floors sum to 1\.25"):
        optimize("min_variance", returns, Constraints(max_weight=0.5, sector_cap=None, min_weight=0.25))
    current = pd.Series([1.0, 0.0, 0.0, 0.0, 0.0], index=returns.columns)
    with pytest.raises(ValueError, match=r"^turnover 0\.5: the current weights are 1\.2"):
        optimize(
            "equal_weight",
            returns,
            Constraints(max_weight=0.4, sector_cap=None, turnover=0.5),
            current=current,
        )


def test_unreachable_targets_name_the_target() -> None:
    returns = panel_returns()
    with pytest.raises(ValueError, match=r"^target_return 5 is above the highest return"):
        optimize("mean_variance", returns, Constraints(sector_cap=None), target_return=5.0)
    with pytest.raises(ValueError, match=r"^target_volatility 0\.01 is below the lowest volatility"):
        optimize("mean_variance", returns, Constraints(sector_cap=None), target_volatility=0.01)


def test_turnover_limit_scales_the_trade_from_a_feasible_book() -> None:
    returns = panel_returns()
    current = pd.Series(1.0 / 20, index=returns.columns)
    free = optimize("inverse_volatility", returns, Constraints(sector_cap=None))
    limited = optimize(
        "inverse_volatility", returns, Constraints(sector_cap=None, turnover=0.05), current=current
    )
    trade, full_trade = limited.weights - current, free.weights - current
    assert trade.abs().sum() == pytest.approx(0.05, abs=1e-12)
    np.testing.assert_allclose(
        trade.to_numpy(), full_trade.to_numpy() * 0.05 / full_trade.abs().sum(), atol=1e-14
    )
    assert "turnover" in limited.binding


def test_turnover_from_an_infeasible_book_projects_onto_the_whole_set() -> None:
    returns = panel_returns()
    current = pd.Series(0.0, index=returns.columns)
    current.loc[["AAPL", "MSFT", "AMD"]] = np.array([0.4, 0.4, 0.2])  # breaks the caps: blending cannot work
    constraints = Constraints(sector_cap=0.3, sectors=SECTORS, turnover=1.5)
    result = optimize("hrp", returns, constraints, current=current)
    assert_meets_constraints(result.weights, constraints, current)
    assert "turnover" in result.binding
