"""``make bench``: every benchmark, printing figures (never pass/fail: machines here are noisy)."""

from __future__ import annotations

from tests.bench import (
    alerts,
    audit,
    autopilot,
    backtest,
    generation,
    ibkr,
    kill_cli,
    optimizers,
    order_path,
    protection_engine,
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
    protection_engine.main()
    risk_engine.main()
    risk_portfolio.main()
    audit.main()
    alerts.main()
    generation.main()
    backtest.main()
    research.main()
    ibkr.main()
    optimizers.main()
    autopilot.main()
    soak.main()


if __name__ == "__main__":
    main()
