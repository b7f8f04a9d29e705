"""Hand-built risk values for the console's risk tests and snapshots: fixed figures, fixed times,
so what the screens draw depends on nothing but this file."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.model import RiskState, TradingState
from engine.model.events import SnapshotEvent
from engine.model.risk import Greeks, RiskReport, StressResult, VarFigures
from tests.console.helpers import T0
from tests.console.test_widgets import risk_state, snapshot

SYMBOLS = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN")
CORRELATION = (
    (1.00, 0.82, 0.55, 0.31, 0.47),
    (0.82, 1.00, 0.61, 0.28, 0.52),
    (0.55, 0.61, 1.00, 0.12, 0.74),
    (0.31, 0.28, 0.12, 1.00, -0.05),
    (0.47, 0.52, 0.74, -0.05, 1.00),
)
LIMITS = {
    "daily_loss_limit_pct": 0.02,
    "drawdown_limit_pct": 0.10,
    "gross_exposure_limit": 1.0,
    "max_order_quantity": 5000.0,
    "max_order_value": 25000.0,
    "max_position_pct": 0.15,
    "var_limit_pct": 0.02,
}


def risk_report(*, scale: float = 1.0) -> RiskReport:
    """A five-stock book; ``scale`` multiplies the VaR figures so a test can tell two reports apart."""
    return RiskReport(
        asof=T0,
        equity=100_000.0,
        gross_value=62_500.0,
        var=(
            VarFigures("historical", 1_520.0 * scale, 2_110.0 * scale, 2_480.0 * scale, 3_050.0 * scale),
            VarFigures("parametric", 1_410.0 * scale, 1_770.0 * scale, 1_990.0 * scale, 2_280.0 * scale),
            VarFigures("monte_carlo", 1_450.0 * scale, 1_840.0 * scale, 2_060.0 * scale, 2_390.0 * scale),
        ),
        volatility=0.1842,
        beta=1.07,
        benchmark="SPY",
        symbols=SYMBOLS,
        correlation=CORRELATION,
        effective_positions=3.6,
        diversification_ratio=1.31,
        greeks=Greeks(delta=62_500.0, gamma=0.0, vega=0.0, theta=0.0, rho=0.0),
        stress=(
            StressResult("2008 crisis", -0.37, 3.0, -24_560.0, -0.2456, 7_420.0),
            StressResult("2020 covid crash", -0.34, 4.0, -22_310.0, -0.2231, 8_950.0),
            StressResult("flash crash", -0.09, 2.0, -6_050.0, -0.0605, 3_970.0),
            StressResult("rally", 0.10, 1.0, 6_720.0, 0.0672, 1_990.0),
        ),
        window_days=250,
        scenarios=10_000,
    )


def risk(
    state: TradingState = TradingState.ACTIVE,
    reason: str = "",
    *,
    kill_level: int = 0,
    paused: tuple[str, ...] = (),
    **figures: float,
) -> RiskState:
    """The desk tests' risk state with a kill level, paused strategies and any figure replaced."""
    replaced: dict[str, Any] = {"kill_level": kill_level, "paused_strategies": paused, **figures}
    return replace(risk_state(state, reason), **replaced)


def risk_snapshot(
    *, report: RiskReport | None = None, paused: tuple[str, ...] = (), limits: dict[str, float] | None = None
) -> SnapshotEvent:
    """The desk tests' snapshot with a risk report, paused strategies and the limits in force."""
    return replace(
        snapshot(),
        risk=risk(paused=paused),
        risk_report=report,
        limits=dict(LIMITS if limits is None else limits),
    )
