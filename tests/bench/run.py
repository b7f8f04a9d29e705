"""``make bench``: every benchmark, printing figures (never pass/fail: machines here are noisy)."""

from __future__ import annotations

from tests.bench import (
    alerts,
    audit,
    autopilot,
    backtest,
    exits,
    generation,
    ibkr,
    kill_cli,
    optimizers,
    order_path,
    research,
    risk_engine,
    risk_portfolio,
    soak,
    startup,
)


def main() -> None:
    startup.main()
    kill_cli.main()
    order_path.main()
    risk_engine.main()
    risk_portfolio.main()
    audit.main()
    alerts.main()
    generation.main()
    backtest.main()
    exits.main()
    research.main()
    ibkr.main()
    optimizers.main()
    autopilot.main()
    soak.main()


if __name__ == "__main__":
    main()
