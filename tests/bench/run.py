"""``make bench``: every benchmark, printing figures (never pass/fail: machines here are noisy)."""

from __future__ import annotations

from tests.bench import (
    alerts,
    audit,
    autopilot,
    backtest,
    console_replay,
    engine_throughput,
    exits,
    generation,
    headless_log,
    ibkr,
    kill_cli,
    optimizers,
    order_path,
    protection,
    protection_engine,
    research,
    risk_engine,
    risk_portfolio,
    soak,
    startup,
    status_cli,
    var,
)


def main() -> None:
    startup.main()
    kill_cli.main()
    status_cli.main()
    order_path.main()
    protection_engine.main()
    risk_engine.main()
    risk_portfolio.main()
    var.main()
    audit.main()
    alerts.main()
    generation.main()
    backtest.main()
    engine_throughput.main()
    console_replay.main()
    exits.main()
    research.main()
    ibkr.main()
    protection.main()
    optimizers.main()
    autopilot.main()
    headless_log.main()
    soak.main()


if __name__ == "__main__":
    main()
