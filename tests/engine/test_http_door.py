"""The engine's HTTP door against a running engine on a random loopback port: health, readiness,
Prometheus metrics (parsed with prometheus-client's own parser), JSON, the event WebSocket, and
the token rules for writes. Real parts: the shipped replay, a SQLite file under tmp_path, aiohttp
on both ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.actor import Actor
from engine.api.http_server import HttpDoor, HttpDoorError, read_token
from engine.config import HttpSettings
from engine.kernel import Engine
from engine.model import CommandSource, Side, TradingState
from engine.model.events import ExecuteCard

OPERATOR = Actor("tester", CommandSource.HOTKEY)
TOKEN = "s3cret-token-for-tests"


def _token_file(tmp_path: Path, mode: int = 0o600, text: str = TOKEN) -> Path:
    path = tmp_path / "http.token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def _entry(engine: Engine) -> str:
    return next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)


@pytest.fixture
async def door(engine: Engine, tmp_path: Path) -> AsyncIterator[HttpDoor]:
    settings = HttpSettings(enabled=True, port=0, token_file=str(_token_file(tmp_path)), allow_execute=True)
    served = HttpDoor(engine, settings)
    await served.start()
    yield served
    await served.stop()


async def _get(door: HttpDoor, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(door.url + path) as response:
        return response.status, await response.text()


async def _post(door: HttpDoor, path: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http, http.post(door.url + path, headers=headers) as response:
        return response.status, await response.json()


async def test_health_ready_and_json_against_a_running_engine(engine: Engine, door: HttpDoor) -> None:
    assert door.url.startswith("http://127.0.0.1:")
    status, body = await _get(door, "/health")
    assert status == 200 and json.loads(body)["status"] == "alive"
    await engine.step_day()
    status, body = await _get(door, "/ready")
    assert (status, json.loads(body)) == (200, {"ready": True, "health": "HEALTHY", "reasons": []})
    status, body = await _get(door, "/api/cards")
    cards = json.loads(body)
    assert status == 200 and {c["card_id"] for c in cards} == {c.card_id for c in engine.cards}
    status, body = await _get(door, "/api/risk")
    assert status == 200 and json.loads(body)["state"]["trading_state"] == "ACTIVE"
    status, body = await _get(door, "/api/status")
    assert status == 200 and json.loads(body)["health"] == 0


async def test_metrics_parse_and_count_fills_and_refusals(engine: Engine, door: HttpDoor) -> None:
    await engine.step_day()
    assert (await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)).ok
    await engine.step_day()
    refused = await engine.handle(ExecuteCard("no-such-card"), OPERATOR)
    assert not refused.ok
    status, text = await _get(door, "/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("onetap_fills_total", ())] >= 1.0
    assert samples[("onetap_equity", ())] == pytest.approx(engine.snapshot().account.equity)
    assert samples[("onetap_trading_state", (("state", "ACTIVE"),))] == 1.0
    assert samples[("onetap_health", ())] == 0.0
    assert samples[("onetap_positions", ())] >= 1.0
    assert any(name == "onetap_refusals_total" and value >= 1.0 for (name, _labels), value in samples.items())
    assert ("onetap_event_loop_lag_seconds", ()) in samples
    assert samples[("onetap_store_write_seconds_count", ())] >= 1.0, "the fill was written"
    assert samples[("onetap_store_write_seconds_sum", ())] > 0.0


async def test_writes_need_the_token_and_execute_needs_its_switch(engine: Engine, door: HttpDoor) -> None:
    await engine.step_day()
    card = _entry(engine)
    assert (await _post(door, f"/api/execute/{card}", None))[0] == 401
    assert (await _post(door, f"/api/execute/{card}", "wrong"))[0] == 403
    status, body = await _post(door, f"/api/execute/{card}", TOKEN)
    assert status == 200 and body["ok"] is True
    assert engine.orders.open_orders(), "the card's order is working"
    assert (await _post(door, "/api/kill", "wrong"))[0] == 403
    assert engine.snapshot().risk.trading_state is TradingState.ACTIVE
    status, body = await _post(door, "/api/kill?reason=http+test", TOKEN)
    assert status == 200 and body["ok"] is True
    risk = engine.snapshot().risk
    assert risk.trading_state is TradingState.HALTED and "http test" in risk.halted_reason
    status, body = await _get(door, "/ready")
    assert status == 503 and json.loads(body)["health"] == "HALTED"


async def test_execute_is_off_unless_enabled_and_writes_are_off_without_a_token(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.step_day()
    no_execute = HttpDoor(engine, HttpSettings(port=0, token_file=str(_token_file(tmp_path))))
    await no_execute.start()
    try:
        status, body = await _post(no_execute, f"/api/execute/{_entry(engine)}", TOKEN)
        assert status == 403 and "allow_execute" in str(body["error"])
    finally:
        await no_execute.stop()
    tokenless = HttpDoor(engine, HttpSettings(port=0, token_file=str(tmp_path / "absent.token")))
    await tokenless.start()
    try:
        status, body = await _post(tokenless, "/api/kill", TOKEN)
        assert status == 403 and "no token file" in str(body["error"])
    finally:
        await tokenless.stop()
    assert engine.snapshot().risk.trading_state is TradingState.ACTIVE


async def test_the_event_stream_receives_a_fill(engine: Engine, door: HttpDoor) -> None:
    await engine.step_day()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(door.url.replace("http", "ws") + "/api/events") as ws,
    ):
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["event"]["type"] == "SnapshotEvent"
        assert (await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)).ok
        await engine.step_day()
        seen: list[str] = []
        while "FillEvent" not in seen:
            msg = await ws.receive(timeout=10)
            seen.append(json.loads(msg.data)["event"]["type"])
        assert "OrderEvent" in seen


def test_a_non_loopback_host_needs_a_token_file(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(HttpDoorError, match="not loopback: create the token file"):
        HttpDoor(engine, HttpSettings(host="0.0.0.0", port=0, token_file=str(tmp_path / "none")))


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HttpDoorError, match="readable by others"):
        read_token(_token_file(tmp_path, mode=0o644))
    with pytest.raises(HttpDoorError, match="empty"):
        read_token(_token_file(tmp_path, text=""))
    assert read_token(_token_file(tmp_path)) == TOKEN


async def test_a_port_in_use_is_a_clear_start_error(engine: Engine, door: HttpDoor) -> None:
    port = int(door.url.rsplit(":", 1)[1])
    with pytest.raises(HttpDoorError, match=f"cannot listen on 127.0.0.1:{port}"):
        await HttpDoor(engine, HttpSettings(port=port)).start()


async def test_a_headless_engine_opens_the_door_when_the_environment_says_so(tmp_path: Path) -> None:
    """The whole path a user takes: ONETAP_HTTP__* in the environment, `onetap --engine-only`."""
    import os
    import signal
    import sys

    env = {
        **os.environ,
        "ONETAP_HTTP__ENABLED": "true",
        "ONETAP_HTTP__PORT": "0",
        "ONETAP_HTTP__TOKEN_FILE": str(tmp_path / "absent.token"),
        "ONETAP_STORE__DATABASE": str(tmp_path / "db" / "onetap.db"),
        "ONETAP_ENGINE__SOCKET": str(tmp_path / "run" / "engine.sock"),
        "ONETAP_ENGINE__LOG_LEVEL": "error",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        "--engine-only",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        started = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120.0))
        assert started["event"] == "EngineStarted" and started["http"].startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http, http.get(started["http"] + "/health") as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60.0)
    assert proc.returncode == 0
