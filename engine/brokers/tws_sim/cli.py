"""``onetap tws-sim``: a TWS stand-in on a port, with the shipped history replayed as live quotes.

Any TWS API client (ib_insync, ib_async, the official ibapi, the console's IBKR adapter) can
connect to it as to a paper TWS. The replay's simulated clock is the simulator's clock, so
execution times and "now" for historical requests follow market time, not the wall.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path

from engine.brokers.tws_sim.codec import MAX_VERSION, MIN_VERSION
from engine.brokers.tws_sim.feed import ReplayDriver
from engine.brokers.tws_sim.fx import FxDriver, read_ask_series
from engine.brokers.tws_sim.server import SimulatorConfig, TwsSimulator
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE
from engine.clock import SimulatedClock
from engine.config import IbkrSettings, ReplaySettings
from engine.data.replay import ReplayFeed
from engine.data.shipped import load_shipped

REPLAY = ReplaySettings()
"""The replay's defaults are ``[replay]``'s (config/default.toml and its schema); flags override them."""
IBKR = IbkrSettings()
"""The simulator listens where the IBKR adapter connects by default (``[ibkr]`` host and port)."""
DEFAULT_START = REPLAY.start_date


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535, or a one-line error naming it."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535 (0 picks a free port)")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="onetap tws-sim", description="A loopback TWS API server replaying the shipped market data."
    )
    p.add_argument("--host", default=IBKR.host, help=f"address to listen on (default {IBKR.host})")
    p.add_argument(
        "--port",
        type=port_number,
        default=IBKR.port,
        help=f"port to listen on, 0-65535 (default {IBKR.port}, paper TWS; 0 picks a free one)",
    )
    p.add_argument("--account", default="DU1234567", help="account id (comma-separate several)")
    p.add_argument("--cash", type=float, default=1_000_000.0, help="starting cash per account in USD")
    p.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first replayed session")
    p.add_argument("--seconds-per-day", type=float, default=60.0, help="wall seconds per replayed session")
    p.add_argument(
        "--steps-per-day",
        type=int,
        default=REPLAY.steps_per_day,
        help=f"quote updates per session (default {REPLAY.steps_per_day})",
    )
    p.add_argument("--delayed", action="store_true", help="serve delayed market data only (10167)")
    p.add_argument("--seed", type=int, default=REPLAY.seed, help="seed of the replay's intraday paths")
    p.add_argument("--run-seconds", type=float, default=None, help="exit after this many seconds (scripts)")
    p.add_argument(
        "--fx-series",
        type=Path,
        default=None,
        help="also quote a forex pair from an ask-side CSV (Time,Open,High,Low,Close; e.g. "
        "shared/data/gym_anytrading_FOREX_EURUSD_1H_ASK.csv); the bid and sizes are invented",
    )
    p.add_argument("--fx-pair", default="EURUSD", help="the pair --fx-series quotes (default EURUSD)")
    p.add_argument("--fx-seconds-per-bar", type=float, default=1.0, help="wall seconds per series bar")
    return p


def connect_hint(host: str, port: int, accounts: Sequence[str]) -> str:
    return (
        f"tws-sim listening on {host}:{port} (API v{MIN_VERSION}..{MAX_VERSION}, "
        f"accounts {','.join(accounts)}); connect with ib_insync: "
        f"IB().connect('{host}', {port}, clientId=1)"
    )


async def play_fx(driver: FxDriver, seconds_per_bar: float) -> None:
    """Four quotes a bar, evenly over ``seconds_per_bar`` of wall time, until the series ends."""
    while driver.step() is not None:
        await asyncio.sleep(max(seconds_per_bar, 0.0) / 4)


async def serve(args: argparse.Namespace) -> int:
    fx_bars = None
    if args.fx_series is not None:
        try:
            fx_bars = read_ask_series(args.fx_series)
        except (OSError, ValueError) as exc:
            print(f"tws-sim: --fx-series: {exc}")
            return 2
    data = load_shipped()
    opens_at = datetime.combine(args.start, time(9, 30), EXCHANGE_ZONE)
    clock = SimulatedClock(opens_at)
    accounts = tuple(a.strip() for a in args.account.split(",") if a.strip())
    config = SimulatorConfig(accounts=accounts, cash=args.cash, delayed=args.delayed)
    sim = TwsSimulator(config, bars=data.bars, clock=clock.now)
    fx_driver = None
    if fx_bars is not None:
        try:
            fx_driver = FxDriver(sim, args.fx_pair, fx_bars)
        except KeyError as exc:
            print(f"tws-sim: --fx-pair: {exc.args[0]}")
            return 2
    rules = REPLAY.model_copy(  # not validated again: the feed checks what it is given, naming it
        update={
            "start": args.start.isoformat(),
            "end": "",
            "seed": args.seed,
            "steps_per_day": args.steps_per_day,
        }
    )
    feed = ReplayFeed.from_settings(rules, data, clock)
    port = await sim.start(args.host, args.port)
    print(connect_hint(args.host, port, accounts), flush=True)
    driver = ReplayDriver(sim, feed)
    replay = asyncio.create_task(driver.run(args.seconds_per_day))
    fx = None if fx_driver is None else asyncio.create_task(play_fx(fx_driver, args.fx_seconds_per_bar))
    try:
        if args.run_seconds is not None:
            await asyncio.wait({replay}, timeout=args.run_seconds)
        else:
            await replay
    finally:
        if fx is not None:
            fx.cancel()
        feed.stop()
        replay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await replay
        await sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``onetap tws-sim`` and ``python -m engine.brokers.tws_sim``."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"tws-sim: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
