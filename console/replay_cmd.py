"""``onetap replay --recording DIR [--until TIME] [--json]``: replay a recorded session.

The replay runs in a temporary folder (the recording and the user's database are only read) and
prints what the engine did on the recorded inputs: the commands and the engine's answers, the
orders and the fills. ``onetap replay --list`` shows the recordings kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Settings

EXIT_OK = 0
EXIT_BAD_RECORDING = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="replay a recorded session exactly (its orders, fills and cards)")
    p.add_argument("--recording", type=Path, metavar="DIR", help="a session's recording folder")
    p.add_argument(
        "--until", metavar="TIME", help="stop at this engine time (ISO 8601, e.g. 2012-01-05T15:30:00+00:00)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--list", action="store_true", help="list the recordings kept, newest last")
    p.add_argument(
        "--attach",
        action="store_true",
        help="step through it in the console: paused at the start; P runs/pauses, N steps, > and < speed",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=20.0,
        metavar="N",
        help="quote steps per second when running (--attach)",
    )


def run(args: argparse.Namespace, settings: Settings, database: Path | None) -> int:
    from engine.api.replay import RecordingError, recordings

    if args.list:
        for folder, size in recordings(settings, database):
            print(f"{folder}  {size / 1e6:.1f} MB")
        return EXIT_OK
    if args.recording is None:
        print("onetap replay: give --recording DIR (or --list to see them)", file=sys.stderr)
        return EXIT_BAD_RECORDING
    if args.attach:
        if not 0.0 < args.speed <= 5_000.0:
            print(f"onetap replay: --speed must be in (0, 5000], got {args.speed:g}", file=sys.stderr)
            return EXIT_BAD_RECORDING
        return run_attached_console(args.recording, args.speed, settings)
    until = _when(args.until)
    if until is False:
        print(f"onetap replay: --until {args.until!r} is not an ISO 8601 time", file=sys.stderr)
        return EXIT_BAD_RECORDING
    try:
        result = asyncio.run(_replay(args.recording, until if isinstance(until, datetime) else None))
    except RecordingError as exc:
        print(f"onetap replay: {exc}", file=sys.stderr)
        return EXIT_BAD_RECORDING
    _print(result, as_json=args.json)
    return EXIT_OK


async def _replay(folder: Path, until: datetime | None):  # type: ignore[no-untyped-def]
    from engine.api.replay import replay

    with tempfile.TemporaryDirectory(prefix="onetap-replay-") as work:
        return await replay(folder, Path(work), until=until)


def _when(text: str | None) -> datetime | bool | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return False
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _print(result, *, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from engine.model.codec import to_jsonable

    if as_json:
        print(
            json.dumps(
                {
                    "broker": result.broker,
                    "steps": result.steps,
                    "reconnects": result.reconnects,
                    "stopped_at": result.stopped_at.isoformat(),
                    "commands": [{"command": n, "result": to_jsonable(r)} for n, r in result.commands],
                    "orders": to_jsonable(list(result.orders)),
                    "fills": to_jsonable(list(result.fills)),
                }
            )
        )
        return
    exact = (
        "exact" if result.broker == "paper" else f"recorded on {result.broker}: fills are the paper broker's"
    )
    print(
        f"replayed {result.steps} quote steps, {len(result.commands)} commands, "
        f"{result.reconnects} reconnects up to {result.stopped_at:%Y-%m-%d %H:%M:%S} ({exact})"
    )
    for name, answer in result.commands:
        print(f"  {name}: {'ok' if answer.ok else 'refused [' + answer.code.value + ']'} {answer.message}")
    print(f"orders ({len(result.orders)}):")
    for o in result.orders:
        price = f" @ {o.avg_fill_price:.2f}" if o.avg_fill_price else ""
        print(f"  {o.client_order_id} {o.side.value} {o.quantity:g} {o.symbol} {o.status.value}{price}")
    print(f"fills ({len(result.fills)})")


def run_attached_console(recording: Path, speed: float, settings: Settings) -> int:
    """The replay on a thread of its own, serving a private socket; the console attached to it
    here. Quitting the console stops the replay; nothing is written outside a temporary folder."""
    import threading

    from console.app import OneTapApp
    from console.client import SocketClient
    from engine.api.replay import RecordingError, run_attached

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    failure: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="onetap-replay-") as work:
        sock = Path(work) / "run" / "replay.sock"

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(
                    run_attached(
                        recording,
                        Path(work) / "db",
                        sock,
                        speed=speed,
                        stop=stop,
                        ready=lambda _e: ready.set(),
                    )
                )
            except BaseException as exc:  # shown after the console, or instead of it
                failure.append(exc)
                ready.set()

        thread = threading.Thread(target=serve, name="onetap-replay", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            print(f"onetap replay: {failure[0]}", file=sys.stderr)
            return EXIT_BAD_RECORDING if isinstance(failure[0], RecordingError) else 1
        print(f"replaying {recording} (paused: P runs or pauses, N steps, > and < change the speed)")
        OneTapApp(SocketClient(sock), settings=settings, title="onetap replay").run()
        loop.call_soon_threadsafe(stop.set)
        thread.join(60.0)
    return EXIT_OK
