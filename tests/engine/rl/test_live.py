"""The ``rl`` template: a trained agent producing cards through the normal scan, generator, risk
checks and execution; its track record out of sample only; a missing model held back with its
reason while the engine runs on; torch loaded only when the template is enabled.

Real parts: a DQN trained here (seeded, a few hundred steps) on the shipped AAPL bars up to
2009, the engine on the shipped data with the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from engine.actor import Actor
from engine.config import ConfigError, Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import ExecuteCard
from engine.rl import registry
from engine.rl.live import forget_loaded, live_templates, rl_template
from engine.strategies.pipeline import scan_histories
from engine.strategies.templates.base import Bars

OPERATOR = Actor("tester", CommandSource.HOTKEY)
TRAIN_END = date(2009, 12, 31)
NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, shipped: MarketData) -> Iterator[Path]:
    """A DQN trained on AAPL up to 2009, then set to always buy (its last layer's weights zeroed,
    the buy action's bias raised) so that the test has entries to trade whatever 300 steps learnt."""
    import torch as th

    from engine.rl.train import TrainSpec, train

    root = tmp_path_factory.mktemp("models")
    bars = shipped.bars["AAPL"]
    panel = {"AAPL": Bars.from_frame("AAPL", bars.loc[bars.index >= np.datetime64("2006-01-01")])}
    spec = TrainSpec(
        agent="dqn",
        train_end=TRAIN_END,
        steps=300,
        seed=0,
        window=4,
        episode_bars=60,
        features=("ret1", "rsi14"),
        eval_every=300,
        checkpoint_every=0,
        overrides={"learning_starts": 100},
    )
    rec = train(spec, panel, root, now=lambda: NOW).record
    model, _ = registry.load_model(rec)
    last = [m for m in cast(Any, model).q_net.modules() if isinstance(m, th.nn.Linear)][-1]
    with th.no_grad():
        last.weight.zero_()
        last.bias.copy_(th.tensor([0.0, 2.0, 0.0]))
    model.save(rec.model_file)
    forget_loaded()
    yield rec.path  # type: ignore[misc]
    forget_loaded()


def _settings(tmp_path: Path, model: str, templates: str = '["rl"]', meta: bool = True) -> Settings:
    cfg = tmp_path / "rl.toml"
    cfg.write_text(
        f"[cards]\ntemplates = {templates}\nmeta_label = {str(meta).lower()}\n"
        f"[strategies.rl]\nmodel = {model!r}\nmin_confidence = 0.0\n"
    )
    return load_settings(cfg, environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})


def test_the_track_record_is_out_of_sample_only(model_dir: Path, shipped: MarketData, tmp_path: Path) -> None:
    """The score calibrator's path (``meta_label = false``): its fit reads only decisions after the
    model's training data. (With meta-labelling on, the rl template's trades feed the meta-label
    model like any template's.)"""
    settings = _settings(tmp_path, str(model_dir), meta=False)
    histories = {"AAPL": shipped.bars["AAPL"].loc[shipped.bars["AAPL"].index < np.datetime64("2012-01-03")]}
    found = scan_histories(settings, histories, extra=live_templates(settings), keep=True)
    assert not found.held_back
    record = found.records["rl"]
    (setup,) = found.setups["rl"]
    entries = setup.dates[setup.entry]
    assert record.n > 100 and len(entries) > 100  # it buys every day after 2009
    assert entries.min() > np.datetime64(TRAIN_END)  # never an entry it learnt from
    (outcomes,) = found.outcomes["rl"].values()
    assert setup.dates[outcomes.entries].min() > np.datetime64(TRAIN_END)
    (card,) = found.candidates
    assert card.confidence == pytest.approx(record.calibrator.predict(card.score))
    assert 0.7 < card.score < 0.8  # softmax(0, 2, 0)[1]
    assert "says buy with p=0.79" in card.reason


async def test_the_rl_template_produces_a_card_that_is_executed_and_filled(
    model_dir: Path, shipped: MarketData, tmp_path: Path
) -> None:
    model_id = model_dir.name
    settings = _settings(tmp_path, str(model_dir))
    eng = Engine(settings, database=tmp_path / "onetap.db", market=shipped, paced=False)
    await eng.start()
    try:
        await eng.step_day()
        cards = [c for c in eng.cards if c.template == "rl"]
        assert cards, f"no rl card; notices: {[n.message for n in eng.parts.outbox.recent_notices()]}"
        card = cards[0]
        assert card.card_id.startswith("rl-AAPL-") and model_id in card.name
        assert card.legs and card.legs[0].symbol == "AAPL" and card.details["bt:n"] > 100
        result = await eng.handle(ExecuteCard(card.card_id), OPERATOR)
        assert result.ok, result.message
        await eng.step_day()
        held = {p.symbol: p.quantity for p in eng.ledger.positions(include_flat=False)}
        assert held.get("AAPL", 0.0) == card.legs[0].quantity
    finally:
        await eng.stop()


async def test_a_missing_model_holds_the_template_back_and_the_engine_runs_on(
    shipped: MarketData, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, "no-such-model", '["momentum", "trend", "rl"]')
    histories = {s: f.loc[f.index < np.datetime64("2012-06-01")] for s, f in shipped.bars.items()}
    histories = {s: histories[s] for s in settings.universe.symbols}
    found = scan_histories(settings, histories, extra=live_templates(settings, tmp_path))
    assert "no model 'no-such-model'" in found.held_back["rl"]
    assert {"momentum", "trend"} <= set(found.records) and "rl" not in found.records
    eng = Engine(settings, database=tmp_path / "onetap.db", market=shipped, paced=False)
    await eng.start()
    try:
        await eng.step_day()
        said = [n.message for n in eng.parts.outbox.recent_notices()]
        assert any("template rl held back" in m and "no-such-model" in m for m in said), said
        assert eng.parts.outbox is not None and not eng.store.closed  # still running
        await eng.step_day()
    finally:
        await eng.stop()


def test_a_broken_model_file_is_held_back_naming_the_model(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "meta.json").write_text((model_dir / "meta.json").read_text())
    (broken / "model.zip").write_bytes(b"not a zip")
    template = rl_template(_settings(tmp_path, str(broken)).strategies["rl"])
    from engine.strategies.templates.base import TemplateUnavailable

    with pytest.raises(TemplateUnavailable, match="cannot be loaded"):
        template.build({}, template.params())


def test_an_enabled_rl_template_without_a_model_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"\[strategies.rl\] model: the rl template is enabled but names no model"
    ):
        live_templates(_settings(tmp_path, ""))
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[strategies.momentum]\nmodel = "x"\n')
    from engine.strategies.policy import enabled_templates

    with pytest.raises(ConfigError, match="only the rl template trades a saved model"):
        enabled_templates(load_settings(cfg, environ={}))
    assert live_templates(load_settings(environ={})) == []  # off by default


_PROBE = (
    "import sys, asyncio\n"
    "from pathlib import Path\n"
    "from engine.config import load_settings\n"
    "from engine.kernel import Engine\n"
    "from engine.data.market import load_market\n"
    "cfg = sys.argv[1]\n"
    "settings = load_settings(Path(cfg) if cfg else None, environ={'ONETAP_REPLAY__STEPS_PER_DAY': '30'})\n"
    "async def main():\n"
    "    eng = Engine(settings, database=Path(sys.argv[2]), market=load_market(settings), paced=False)\n"
    "    await eng.start()\n"
    "    await eng.step(3)\n"
    "    await eng.stop()\n"
    "asyncio.run(main())\n"
    "print('TORCH', 'torch' in sys.modules)\n"
)


def test_torch_loads_only_when_the_rl_template_is_enabled(model_dir: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    cfg = tmp_path / "rl.toml"
    cfg.write_text(f'[cards]\ntemplates = ["momentum", "rl"]\n[strategies.rl]\nmodel = {str(model_dir)!r}\n')
    seen = {}
    for name, config in (("default", ""), ("rl", str(cfg))):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, config, str(tmp_path / f"{name}.db")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert "TORCH" in out.stdout, out.stderr[-2000:]
        seen[name] = "TORCH True" in out.stdout
    assert seen == {"default": False, "rl": True}
