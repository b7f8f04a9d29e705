"""The models screen: the registry with each model's status, curves and evaluation, opened by
its key from the desk; a model without an evaluation says so."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static

from console.app import OneTapApp
from console.screens.models import NOT_EVALUATED, ModelsScreen, curve_series, model_views
from console.widgets.research import BrailleChart
from engine.config import load_settings
from engine.rl.registry import list_models
from tests.console.helpers import FakeClient, settle
from tests.console.models_fixtures import CUT_OFF, EVALUATED, TRADED, write_registry
from tests.console.risk_fixtures import risk_snapshot


def _text(widget: Static) -> str:
    """What a Static shows, as plain text (its content may be a rich renderable)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def _settings(tmp_path: Path, model: str) -> object:
    cfg = tmp_path / "rl.toml"
    cfg.write_text(f'[cards]\ntemplates = ["momentum", "rl"]\n[strategies.rl]\nmodel = "{model}"\n')
    return load_settings(cfg, environ={})


def test_status_names_the_traded_model_by_id_prefix_or_folder(tmp_path: Path) -> None:
    root = write_registry(tmp_path / "models")
    records = list_models(root)
    for name in (TRADED, "ppo-AAPL", str(root / TRADED)):
        views = {v.record.model_id: v for v in model_views(records, _settings(tmp_path, name))}  # type: ignore[arg-type]
        assert views[TRADED].used and views[TRADED].status == "traded by the rl template", name
        assert not views[EVALUATED].used and views[EVALUATED].status == "not used"
        assert "no meta.json" in views[CUT_OFF].status
    unique = model_views(records, _settings(tmp_path, "d"))  # type: ignore[arg-type]
    assert [v.record.model_id for v in unique if v.used] == [EVALUATED]  # a unique prefix names it
    twin = root / "dqn-AAPL-20261204T000000"
    shutil.copytree(root / EVALUATED, twin)
    meta = json.loads((twin / "meta.json").read_text())
    (twin / "meta.json").write_text(json.dumps({**meta, "model_id": twin.name}))
    ambiguous = model_views(list_models(root), _settings(tmp_path, "dqn-AAPL"))  # type: ignore[arg-type]
    assert not any(v.used for v in ambiguous)  # two models: the engine refuses the name, none is traded
    off = model_views(records, load_settings(environ={}))
    assert not any(v.used for v in off)
    (evaluated,) = [v for v in off if v.record.model_id == EVALUATED]
    assert evaluated.evaluation is not None and evaluated.evaluation["p_value"] == 0.27
    assert len(curve_series(evaluated.record, "loss")) == 40


async def test_the_models_key_opens_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_registry(tmp_path / "models")
    monkeypatch.setenv("ONETAP_MODELS", str(root))
    app = OneTapApp(FakeClient(risk_snapshot()), settings=_settings(tmp_path, TRADED))  # type: ignore[arg-type]
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("M")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one("#models-table", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [TRADED, EVALUATED, CUT_OFF]
        assert "traded by the rl template" in str(table.get_row_at(0)[7])
        assert screen.query_one("#models-reward", BrailleChart).series  # the traded one's curve
        evaluation = _text(screen.query_one("#models-eval", Static))
        assert NOT_EVALUATED in evaluation  # the PPO has no walk-forward yet
        await pilot.press("down")
        await pilot.pause()
        evaluation = _text(screen.query_one("#models-eval", Static))
        assert "buy-and-hold" in evaluation and "p-value 0.27" in evaluation
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ModelsScreen)


async def test_an_empty_registry_says_how_to_fill_it(tmp_path: Path) -> None:
    app = OneTapApp(FakeClient(risk_snapshot()))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.push_screen(ModelsScreen(tmp_path / "none", None, label="here"))
        await pilot.pause()
        text = _text(app.screen.query_one("#models-eval", Static))
        assert "No trained model in here" in text and "onetap rl train" in text
