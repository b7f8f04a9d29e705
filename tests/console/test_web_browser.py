"""``onetap web`` in a real headless Chromium: the page asks for its token, takes it once, the desk
shows its four panes, ``x`` executes the selected card, ctrl+k halts; the engine (a real
``--engine-only`` subprocess) confirms.

The screen is read from xterm.js's own buffer (the text it draws on its canvas): the page's script
keeps its terminal in a closure, so a script installed before the page loads notes the object the
page assigns to ``.terminal`` (``Object.prototype`` setter) and exposes the visible rows.

Screenshots of the desk go to ``tmp_path/web-artifacts`` and, when ``ONETAP_TEST_ARTIFACTS`` is
set, are copied to ``$ONETAP_TEST_ARTIFACTS/web``, with the measured timings (``timings.json``).
Skipped only when Debian's ``chromium``/``chromium-driver`` are not installed (.ci/run installs them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from console.client import SocketClient
from engine.model.events import Event, SnapshotEvent
from tests.terminal import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if Path(p).exists()), None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Chromium not installed: apt-get install -y chromium chromium-driver (.ci/run does)",
    ),
]
TOKEN = "a-browser-test-token"
PANES = ("Positions & P&L", "Strategy cards", "Risk", "Orders")
CARDS_TIMEOUT_S = 240.0
"""The session's first scan runs after start; a cold one compiles the numba kernels."""
SCREEN_SCRIPT = r"""
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  get() { return undefined; },
  set(value) {
    if (value && value.buffer && typeof value.write === 'function') { window.__onetapTerminal = value; }
    Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
  },
});
window.__onetapScreen = () => {
  const term = window.__onetapTerminal;
  if (!term) { return null; }
  const buffer = term.buffer.active;
  const rows = [];
  for (let i = 0; i < term.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    rows.push(line ? line.translateToString(true) : '');
  }
  return rows.join('\n');
};
"""


def test_the_console_in_chromium_executes_a_card_and_halts(tmp_path: Path) -> None:
    artifacts = tmp_path / "web-artifacts"
    artifacts.mkdir()
    env = _env(tmp_path)
    cfg = _config(tmp_path)
    sock = tmp_path / "run" / "engine.sock"
    port = _free_port()
    token_file = tmp_path / "xdg-config" / "onetap" / "http.token"  # the default place
    token_file.parent.mkdir(parents=True)
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    timings: dict[str, float] = {}
    with Running([*_onetap(cfg), "--engine-only"], env, tmp_path / "engine.log") as engine:
        _wait(lambda: sock.exists(), "the engine's socket", 120, engine)
        with Running(
            [*_onetap(cfg), "web", "--port", str(port), "--attach"], env, tmp_path / "web.log"
        ) as web:
            url = f"http://127.0.0.1:{port}/"
            _wait(lambda: _answers(url), "onetap web to listen", 60, web)
            with _chromium() as browser:
                browser.get(url)  # a token file exists: the page asks for it
                assert "needs its token" in browser.find_element(By.TAG_NAME, "body").text
                started = time.monotonic()
                browser.get(f"{url}?token={TOKEN}")  # once; a session cookie carries it from here
                desk = _screen_until(browser, _desk_drawn, "the desk with the engine's snapshot", 60)
                timings["page_load_to_first_desk_frame_s"] = time.monotonic() - started
                assert all(title in desk for title in PANES), desk
                browser.save_screenshot(str(artifacts / "desk.png"))

                cards = _screen_until(browser, _first_card, "a strategy card", CARDS_TIMEOUT_S)
                symbol, side = _first_card(cards) or ("", "")
                browser.execute_script("window.__onetapTerminal.focus()")
                pressed = time.monotonic()
                ActionChains(browser).send_keys("x").perform()
                shown = _screen_until(
                    browser, lambda s: _order_row(s, symbol, side), f"the {side} {symbol} order", 30
                )
                timings["key_x_to_order_on_screen_s"] = time.monotonic() - pressed
                browser.save_screenshot(str(artifacts / "desk-order.png"))
                orders = asyncio.run(_orders(sock))
                assert (symbol, side) in orders, (orders, shown)

                pressed = time.monotonic()
                ActionChains(browser).key_down(Keys.CONTROL).send_keys("k").key_up(Keys.CONTROL).perform()
                _screen_until(browser, lambda s: "HALTED" in s, "the HALTED banner", 30)
                timings["key_ctrl_k_to_halted_on_screen_s"] = time.monotonic() - pressed
                browser.save_screenshot(str(artifacts / "desk-halted.png"))

                pressed = time.monotonic()  # a key the console answers alone: the relay's own latency
                ActionChains(browser).send_keys("v").perform()
                _screen_until(browser, lambda s: "Value at Risk" in s, "the risk detail screen", 30)
                timings["key_v_to_risk_screen_s"] = time.monotonic() - pressed
                reads = []
                for _ in range(20):
                    read = time.monotonic()
                    browser.execute_script("return window.__onetapScreen()")
                    reads.append(time.monotonic() - read)
                timings["screen_read_s_median"] = sorted(reads)[len(reads) // 2]
        status = subprocess.run(
            [*_onetap(cfg), "status", "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        vitals = json.loads(status.stdout)
        assert status.returncode == 2 and vitals["trading_state"] == "HALTED", status.stdout + status.stderr
    (artifacts / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    _keep(artifacts)
    print(f"web console timings (s): {timings}; screenshots in {artifacts}")
    assert all((artifacts / name).stat().st_size > 10_000 for name in ("desk.png", "desk-halted.png"))


def _desk_drawn(screen: str) -> bool:
    """All four panes, and the engine's snapshot drawn (the status line no longer 'connecting')."""
    first = screen.partition("\n")[0]
    return all(title in screen for title in PANES) and "connecting" not in first and "feed" in first


def _first_card(screen: str) -> tuple[str, str] | None:
    """The cards pane's first row as (symbol, side): the card the cursor rests on."""
    for line in screen.splitlines():
        cells = line.split("│")
        if len(cells) < 4:
            continue
        words = cells[3].split()  # the right column: the cards pane above the orders
        if len(words) >= 5 and words[0] == "1" and words[3] in ("BUY", "SELL"):
            return words[2], words[3]
    return None


def _order_row(screen: str, symbol: str, side: str) -> bool:
    below = screen.split("Orders", 1)[-1]
    return any(f" {symbol} " in line and f" {side} " in line and "OT-" in line for line in below.splitlines())


async def _orders(sock: Path) -> list[tuple[str, str]]:
    """The engine's own word: (symbol, side) of every order in a fresh console's snapshot."""
    events: asyncio.Queue[Event] = asyncio.Queue()
    client = SocketClient(sock)
    await client.connect(events.put_nowait)
    try:
        snapshot = await asyncio.wait_for(events.get(), 10)
    finally:
        await client.close()
    assert isinstance(snapshot, SnapshotEvent)
    return [(order.symbol, order.side.value) for order in snapshot.orders]


def _screen_until(browser: webdriver.Chrome, done: Callable[[str], object], what: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = browser.execute_script("return window.__onetapScreen ? window.__onetapScreen() : null") or ""
        if done(screen):
            return str(screen)
        time.sleep(0.02)
    raise AssertionError(f"no {what} in the browser within {timeout:g} s; the screen:\n{screen}")


def _chromium() -> _Browser:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)  # no sandbox: CI runs as root, where Chromium's sandbox refuses
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SCREEN_SCRIPT})
    return _Browser(browser)


class _Browser:
    def __init__(self, browser: webdriver.Chrome) -> None:
        self._browser = browser

    def __enter__(self) -> webdriver.Chrome:
        return self._browser

    def __exit__(self, *_: object) -> None:
        self._browser.quit()


class Running:
    """A subprocess whose output goes to ``log``; SIGTERM and wait on exit (kill if it hangs)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        self.log = log

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _wait(done: Callable[[], bool], what: str, timeout: float, process: Running) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if process.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {what}; its output:\n{process.log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    """Any HTTP answer (the page without its token is a 401): the server listens."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _onetap(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "console.cli", "--config", str(cfg)]


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(
        f'[store]\ndatabase = "{tmp_path / "db" / "onetap.db"}"\n'
        f'[engine]\nsocket = "{tmp_path / "run" / "engine.sock"}"\n'
        "[replay]\nseconds_per_day = 15.0\nsteps_per_day = 60\n"
    )
    return cfg


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_RUNTIME_DIR": str(tmp_path / "xdg-run"),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keep(artifacts: Path) -> None:
    """Copy the screenshots where CI keeps test artifacts (``ONETAP_TEST_ARTIFACTS``), if set."""
    target = os.environ.get("ONETAP_TEST_ARTIFACTS")
    if target:
        shutil.copytree(artifacts, Path(target) / "web", dirs_exist_ok=True)
