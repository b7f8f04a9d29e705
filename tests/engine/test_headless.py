"""`onetap --engine-only` as a real subprocess: attach over the socket, trade, SIGTERM, read the database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

from console.client import SocketClient
from engine.model import OrderStatus
from engine.model.events import CardsEvent, Event, ExecuteCard, OrderEvent, SnapshotEvent
from engine.store.repository import Store


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(
        f'[store]\ndatabase = "{tmp_path / "db" / "onetap.db"}"\n'
        f'[engine]\nsocket = "{tmp_path / "run" / "engine.sock"}"\n'
        "[replay]\nseconds_per_day = 15.0\nsteps_per_day = 60\n"
    )
    return cfg


def _wait_for_line(proc: subprocess.Popen[str], event: str, timeout: float = 60.0) -> dict[str, object]:
    assert proc.stdout is not None
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    loop_deadline = timeout
    while loop_deadline > 0:
        if not sel.select(timeout=1.0):
            loop_deadline -= 1.0
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        data = json.loads(line)
        if data.get("event") == event:
            return dict(data)
    raise AssertionError(f"no {event} line; stderr: {proc.stderr.read() if proc.stderr else ''}")


def test_engine_only_attach_execute_sigterm(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_RUNTIME_DIR": str(tmp_path / "xdgrun")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        started = _wait_for_line(proc, "EngineStarted")
        drained: list[str] = []  # keep reading: a full stdout pipe would block the engine's writes
        drain = threading.Thread(target=lambda: drained.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
        drain.start()
        sock = Path(str(started["socket"]))
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        coid = asyncio.run(_attach_and_trade(sock))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        drain.join(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err
    assert '"event":"EngineStopped"' in "".join(drained)
    assert not sock.exists()
    store = Store.open(tmp_path / "db" / "onetap.db")
    try:
        order = store.get_order(coid)
        assert order is not None and order.status is OrderStatus.FILLED
        fills = store.load_fills(client_order_id=coid)
        assert fills and sum(f.quantity for f in fills) == order.quantity
        assert store.verify_audit().ok
    finally:
        store.close()


async def _attach_and_trade(sock: Path) -> str:
    events: asyncio.Queue[Event] = asyncio.Queue()
    client = SocketClient(sock)
    await client.connect(events.put_nowait)
    snap = await asyncio.wait_for(events.get(), 10)
    assert isinstance(snap, SnapshotEvent)
    cards = snap.cards
    # the session's scan runs after start, off the loop; a cold one compiles the numba kernels
    deadline = asyncio.get_running_loop().time() + 240
    while not any(c.legs[0].side.value == "BUY" for c in cards):
        ev = await asyncio.wait_for(events.get(), deadline - asyncio.get_running_loop().time())
        if isinstance(ev, CardsEvent):
            cards = ev.cards
    entry = next(c for c in cards if c.legs[0].side.value == "BUY")
    result = await client.send(ExecuteCard(entry.card_id))
    assert result.ok, result.message
    coid = ""
    while True:
        ev = await asyncio.wait_for(events.get(), 30)
        if isinstance(ev, OrderEvent) and ev.order.card_id == entry.card_id:
            coid = ev.order.client_order_id
            if ev.order.status is OrderStatus.FILLED:
                break
    await client.close()
    return coid


def test_a_clean_stop_with_a_console_attached_hangs_up_on_it_without_a_traceback(tmp_path: Path) -> None:
    """SIGINT while a console is attached: the peer reads end-of-file, stderr stays empty.

    Before, the peer's handler was still waiting in readline when asyncio.run cancelled it, and
    Python 3.11's stream callback printed that CancelledError as a traceback on every clean stop.
    """
    import socket

    cfg = _config(tmp_path)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_RUNTIME_DIR": str(tmp_path / "xdgrun")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.settimeout(60.0)
    try:
        started = _wait_for_line(proc, "EngineStarted")
        drained: list[str] = []
        drain = threading.Thread(target=lambda: drained.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
        drain.start()
        peer.connect(str(started["socket"]))
        received = b""
        while b"\n" not in received:  # the snapshot: the session is up
            received += peer.recv(1 << 16)
        assert json.loads(received.partition(b"\n")[0])["event"]["type"] == "SnapshotEvent"
        proc.send_signal(signal.SIGINT)
        while chunk := peer.recv(1 << 16):  # the engine hangs up: recv returns b"" (no timeout)
            received += chunk
        proc.wait(timeout=30)
        drain.join(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        peer.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0, err
    assert '"event":"EngineStopped"' in "".join(drained)
    assert err == ""


def test_sighup_stops_the_headless_engine_cleanly(tmp_path: Path) -> None:
    """An engine started straight from an SSH session gets SIGHUP when the connection drops: it
    must stop as on SIGTERM (books persisted, audit closed, socket removed), not die mid-write."""
    cfg = _config(tmp_path)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_RUNTIME_DIR": str(tmp_path / "xdgrun")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        started = _wait_for_line(proc, "EngineStarted")
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "EngineStopped", timeout=30)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not Path(str(started["socket"])).exists()
    store = Store.open(tmp_path / "db" / "onetap.db")
    try:
        assert [r.action for r in store.load_audit()][-1] == "engine_stop"
        assert store.verify_audit().ok
    finally:
        store.close()
