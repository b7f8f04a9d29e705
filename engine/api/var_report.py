"""``onetap var-backtest``'s engine side: roll a VaR model over daily series and test its forecasts.

The console may not import ``engine.risk`` or ``engine.data`` (import-linter), so this door
loads the series (the shipped data, the configured ``[data]`` file, or a file named on the
command line), rolls the model (``engine.risk.var_models``) and tests it
(``engine.risk.var_backtest``), and hands back plain values. Each symbol is one series of
simple daily close-to-close returns, tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import Settings

__all__ = ["VarBacktestError", "VarBacktestLine", "run_var_backtest", "var_methods"]


class VarBacktestError(ValueError):
    """The backtest cannot run; the message is one line naming what is wrong."""


@dataclass(frozen=True, slots=True)
class VarBacktestLine:
    """One symbol's backtest: what ``--json`` prints under ``"results"``."""

    symbol: str
    first: str
    """First forecast day tested (YYYY-MM-DD)."""
    last: str
    observations: int
    exceedances: int
    expected: float
    kupiec_p: float
    christoffersen_p: float
    conditional_coverage_p: float
    es_p: float | None
    """McNeil-Frey's bootstrap p-value (seeded); None with fewer than three exceedances."""
    z2: float
    """Acerbi-Szekely Z2 (0 when ES is right, negative when it understates the tail)."""
    passes: bool
    """Kupiec and Christoffersen both at or above 0.05."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def var_methods() -> tuple[str, ...]:
    from engine.risk.var_models import METHODS

    return METHODS


def run_var_backtest(
    settings: Settings,
    *,
    symbols: Sequence[str] | None = None,
    method: str | None = None,
    level: float = 0.99,
    window: int | None = None,
    refit_every: int | None = None,
    data_file: Path | None = None,
    seed: int = 0,
) -> tuple[str, int, list[VarBacktestLine]]:
    """(method, window, one line per symbol). Defaults: ``[risk] var_method``, the method's own
    window, the ``[universe] benchmark``, every 20 days a refit.

    Raises VarBacktestError for an unknown method or symbol, a level outside [0.5, 1), a window
    under 20 days or longer than a series allows, or data that cannot load.
    """
    from engine.data.loader import DataError
    from engine.risk.var_backtest import backtest
    from engine.risk.var_models import REFIT_EVERY, check_level, check_method, default_window, roll

    chosen = method or settings.risk.var_method
    try:
        check_method(chosen)
        check_level(level)
    except ValueError as exc:
        raise VarBacktestError(str(exc)) from None
    w = default_window(chosen) if window is None else window
    if w < 20:
        raise VarBacktestError(f"--window must be at least 20 days, got {w}")
    every = REFIT_EVERY if refit_every is None else refit_every
    if every < 1:
        raise VarBacktestError(f"--refit-every must be at least 1 day, got {every}")
    wanted = [s.strip().upper() for s in symbols if s.strip()] if symbols else [settings.universe.benchmark]
    if not wanted:
        raise VarBacktestError("--symbols names no symbol")
    try:
        closes = _closes(settings, wanted, data_file)
    except DataError as exc:
        raise VarBacktestError(str(exc)) from None
    lines: list[VarBacktestLine] = []
    for symbol in wanted:
        dates, close = closes[symbol]
        returns = close[1:] / close[:-1] - 1.0
        if returns.size < w + 2:
            raise VarBacktestError(
                f"{symbol} has {returns.size} daily returns; a {w}-day window needs at least {w + 2}"
            )
        try:
            f = roll(returns, chosen, (level,), window=w, refit_every=every, seed=seed)
        except ValueError as exc:
            raise VarBacktestError(f"{symbol}: {exc}") from None
        realised = returns[f.start :]
        b = backtest(realised, f.var[0, :-1], f.es[0, :-1], f.scale[:-1], level, seed=seed)
        day = dates[1:]
        lines.append(
            VarBacktestLine(
                symbol=symbol,
                first=str(day[f.start])[:10],
                last=str(day[-1])[:10],
                observations=b.observations,
                exceedances=b.exceedances,
                expected=round(b.expected, 4),
                kupiec_p=b.kupiec_p,
                christoffersen_p=b.christoffersen_p,
                conditional_coverage_p=b.conditional_coverage_p,
                es_p=b.es_p,
                z2=b.z2,
                passes=b.passes,
            )
        )
    return chosen, w, lines


def _closes(
    settings: Settings, symbols: Sequence[str], data_file: Path | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dates and closes per symbol, from ``data_file``, the configured file, or the shipped data."""
    from engine.data.loader import DataError, load_user_file
    from engine.data.shipped import load_shipped

    path = data_file
    if path is None and settings.data.source == "file":
        if not settings.data.path:
            raise DataError('[data] source = "file" needs [data] path to a CSV or Parquet file')
        path = Path(settings.data.path).expanduser()
    if path is not None:
        market = load_user_file(path, jump_threshold=settings.data.jump_threshold)
        missing = [s for s in symbols if s not in market.bars]
        if missing:
            raise DataError(
                f"no data for {', '.join(missing)} in {path}; it has {', '.join(sorted(market.bars))}"
            )
    else:
        market = load_shipped(symbols, jump_threshold=settings.data.jump_threshold)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for symbol in symbols:
        frame = market.bars[symbol]
        out[symbol] = (frame.index.to_numpy(), frame["close"].to_numpy(dtype=np.float64))
    return out
