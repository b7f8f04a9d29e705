"""A fixed model registry for the models screen: two trained agents (one evaluated, one traded by
the rl template) and a folder cut off while training. Written as ``onetap rl train`` and
``onetap rl evaluate`` write them (meta.json, evaluation.json; model.zip only has to exist:
the screen never loads a model)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from engine.rl import registry

EVALUATED = "dqn-AAPL-20261201T090000"
TRADED = "ppo-AAPL_MSFT-20261202T100000"
CUT_OFF = "mha_dqn-IBM-20261203T110000"


def _curve(n: int, scale: float, phase: float) -> list[dict[str, float]]:
    return [
        {
            "step": float(500 * (i + 1)),
            "episode_reward": scale * (1.0 - math.exp(-i / 8.0)) + 0.3 * math.sin(i + phase),
            "loss": 2.0 * math.exp(-i / 10.0) + 0.05 * math.cos(3 * i + phase),
            "exploration": max(0.01, 1.0 - i / 10.0),
        }
        for i in range(n)
    ]


def _record(
    model_id: str, agent: str, symbols: tuple[str, ...], created: str, **kw: object
) -> registry.ModelRecord:
    base: dict[str, object] = {
        "model_id": model_id,
        "agent": agent,
        "symbols": symbols,
        "data_start": "2006-01-03",
        "data_end": "2009-12-31",
        "train_end": "2009-12-31",
        "val_start": "2009-03-02",
        "features": ("ret1", "rsi14"),
        "env": {"window": 4},
        "config": {"learning_rate": 0.001},
        "config_hash": "0123456789ab",
        "code_version": "test",
        "seed": 0,
        "steps": 20_000,
        "created": created,
    }
    base.update(kw)
    return registry.ModelRecord(**base)  # type: ignore[arg-type]


def write_registry(root: Path) -> Path:
    """The fixed registry under ``root`` (returned)."""
    evaluated = _record(
        EVALUATED,
        "dqn",
        ("AAPL",),
        "2026-12-01T09:00:00+00:00",
        metrics={
            "total_return": 0.042,
            "sharpe": 0.61,
            "max_drawdown": -0.08,
            "reward": 4.1,
            "oos_sharpe": 0.35,
            "oos_total_return": 0.11,
        },
        curve=_curve(40, 6.0, 0.0),
    )
    traded = _record(
        TRADED,
        "ppo",
        ("AAPL", "MSFT"),
        "2026-12-02T10:00:00+00:00",
        steps=8_192,
        metrics={"total_return": -0.013, "sharpe": -0.2, "max_drawdown": -0.12, "reward": -1.3},
        curve=_curve(16, 2.0, 1.0),
    )
    for rec in (evaluated, traded):
        folder = root / rec.model_id
        folder.mkdir(parents=True)
        (folder / registry.MODEL).write_bytes(b"PK")
        registry.write_meta(rec, folder)
    table = {
        "dqn": {
            "total_return": 0.11,
            "sharpe": 0.35,
            "sortino": 0.52,
            "max_drawdown": -0.19,
            "turnover": 8.4,
            "cost_paid": 0.012,
        },
        "buy-and-hold": {
            "total_return": 0.38,
            "sharpe": 0.71,
            "sortino": 1.02,
            "max_drawdown": -0.31,
            "turnover": 0.0,
            "cost_paid": 0.0005,
        },
        "best template": {
            "total_return": 0.07,
            "sharpe": 0.22,
            "sortino": 0.3,
            "max_drawdown": -0.15,
            "turnover": 12.1,
            "cost_paid": 0.02,
        },
        "equal-weight templates": {
            "total_return": 0.09,
            "sharpe": 0.4,
            "sortino": 0.55,
            "max_drawdown": -0.1,
            "turnover": 6.0,
            "cost_paid": 0.01,
        },
        "random agent (median)": {"sharpe": -0.05, "sharpe_p95": 0.6, "turnover": 8.4},
    }
    evaluation = {
        "learner": "dqn",
        "folds": [{}, {}, {}, {}],
        "table": table,
        "p_value": 0.27,
        "dsr": 0.18,
        "trials": 3,
    }
    (root / EVALUATED / "evaluation.json").write_text(json.dumps(evaluation))
    (root / CUT_OFF / "checkpoints").mkdir(parents=True)
    return root
