"""``make bench``: every benchmark, printing figures (never pass/fail: machines here are noisy)."""

from __future__ import annotations

from tests.bench import (
    alerts,
    audit,
    autopilot,
    backtest,
    cards_scale,
    console_replay,
    dask_research,
    depth_fx,
    engine_throughput,
    exits,
    flow_algos,
    forecast,
    generation,
    headless_log,
    ibkr,
    intraday,
    kill_cli,
    optimizers,
    order_path,
    orderflow,
    protection,
    protection_engine,
    research,
    risk_engine,
    risk_portfolio,
    rl,
    rl_live,
    session_stall,
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
    cards_scale.main([])
    session_stall.main([])
    backtest.main()
    engine_throughput.main()
    console_replay.main()
    exits.main()
    flow_algos.main()
    orderflow.main()
    forecast.main()
    depth_fx.main()
    research.main()
    dask_research.main()
    rl.main()
    rl_live.main()
    intraday.main()
    ibkr.main()
    protection.main()
    optimizers.main()
    autopilot.main()
    headless_log.main()
    soak.main()


if __name__ == "__main__":
    main()
