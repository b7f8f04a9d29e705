"""The model registry and ``onetap rl``: training saves a complete, describable model; listing
needs no torch; broken folders are shown with their problem."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from console import rl_cmd
from engine.rl import registry
from engine.rl.agents import AGENTS, predictor
from engine.rl.env import REWARDS, TradingEnv, build_market, cut_panel, env_config, synthetic_panel
from engine.rl.train import TrainSpec, train

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def _spec(**kw: object) -> TrainSpec:
    base: dict[str, object] = {
        "agent": "dqn",
        "train_end": date(2012, 6, 29),
        "steps": 600,
        "seed": 0,
        "window": 4,
        "episode_bars": 60,
        "features": ("ret1", "rsi14"),
        "eval_every": 200,
        "checkpoint_every": 300,
        "overrides": {"learning_starts": 100},
    }
    base.update(kw)
    return TrainSpec(**base)  # type: ignore[arg-type]


def test_training_saves_a_complete_model_that_infers_as_trained(tmp_path: Path) -> None:
    panel = synthetic_panel(900, seed=2)
    result = train(_spec(), panel, tmp_path, now=lambda: NOW)
    rec = result.record
    folder = tmp_path / rec.model_id
    assert rec.model_id == "dqn-SYN-20261207T200000" and rec.path == folder
    assert (
        (folder / "model.zip").is_file()
        and (folder / "meta.json").is_file()
        and (folder / "curve.csv").is_file()
    )
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step_300.zip", "step_600.zip"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["agent"] == "dqn" and meta["symbols"] == ["SYN"] and meta["features"] == ["ret1", "rsi14"]
    assert (
        meta["train_end"] == "2012-06-29"
        and meta["data_end"] <= "2012-06-29"
        and meta["val_start"] < meta["data_end"]
    )
    assert meta["config"]["gamma"] == 0.95 and meta["config"]["learning_starts"] == 100
    assert len(meta["config_hash"]) == 12 and meta["code_version"]
    assert {"total_return", "sharpe", "max_drawdown", "cost_paid", "best_step"} <= set(meta["metrics"])
    assert [row["step"] for row in meta["curve"] if "val_reward" in row] == [200.0, 400.0, 600.0]
    assert meta["steps"] == 600
    # the registry gives back the same model: the same decisions on the same observations
    loaded, again = registry.load_model(rec.model_id[:8], tmp_path)
    assert again.config_hash == rec.config_hash
    market = build_market(panel, rec.features)
    env = TradingEnv(market, env_config(rec.env), start=500, random_start=False)
    obs, _ = env.reset()
    a, b = predictor(result.model), predictor(loaded)
    for _ in range(30):
        assert a(obs) == b(obs)
        obs, *_ = env.step(a(obs)[0])


def test_same_spec_same_hash_and_another_seed_another(tmp_path: Path) -> None:
    panel = synthetic_panel(700, seed=2)
    one = train(_spec(steps=200, validation=0.0), panel, tmp_path / "a", now=lambda: NOW).record
    two = train(_spec(steps=200, validation=0.0), panel, tmp_path / "b", now=lambda: NOW).record
    three = train(_spec(steps=200, validation=0.0, seed=1), panel, tmp_path / "c", now=lambda: NOW).record
    assert one.config_hash == two.config_hash != three.config_hash
    assert one.metrics["stopped_early"] == 0.0


def test_training_data_is_cut_at_train_end() -> None:
    panel = synthetic_panel(500, seed=1)
    cut = cut_panel(panel, date(2011, 1, 3))
    assert str(cut["SYN"].dates[-1]) == "2011-01-03" and len(cut["SYN"].close) == len(cut["SYN"].dates)
    with pytest.raises(ValueError, match="no bars on or before"):
        cut_panel(panel, date(2000, 1, 1))


def test_early_stopping_ends_training_without_gain(tmp_path: Path) -> None:
    # a learning rate of zero never changes the policy: validation never improves after the first
    spec = _spec(steps=5000, patience=2, overrides={"learning_starts": 50, "learning_rate": 0.0})
    rec = train(spec, synthetic_panel(700, seed=2), tmp_path, now=lambda: NOW).record
    assert rec.metrics["stopped_early"] == 1.0
    assert rec.steps == 600  # evaluations at 200 (best), 400, 600 (two without gain)


def test_listing_shows_broken_folders_and_finds_by_prefix(tmp_path: Path) -> None:
    assert registry.list_models(tmp_path / "none") == []
    (tmp_path / "half-done").mkdir()
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "meta.json").write_text("{not json")
    records = {r.model_id: r for r in registry.list_models(tmp_path)}
    assert "still training" in records["half-done"].problem
    assert "unreadable meta.json" in records["garbled"].problem
    with pytest.raises(LookupError, match="no model 'zzz'"):
        registry.find_model("zzz", tmp_path)
    with pytest.raises(LookupError, match="still training"):
        registry.find_model("half-done", tmp_path)
    with pytest.raises(ValueError, match="letters, digits"):
        registry.check_id("../escape")


def test_models_root_follows_the_environment(tmp_path: Path) -> None:
    assert registry.models_root({"ONETAP_MODELS": str(tmp_path)}) == tmp_path
    assert registry.models_root({}).name == "models"


def test_rl_list_prints_the_registry(tmp_path: Path) -> None:
    train(_spec(steps=200, validation=0.0), synthetic_panel(700, seed=2), tmp_path, now=lambda: NOW)
    (tmp_path / "broken").mkdir()
    out = io.StringIO()
    assert rl_cmd._run_list(argparse.Namespace(models=tmp_path, json=False), None, out) == 0  # type: ignore[arg-type]
    text = out.getvalue()
    assert "dqn-SYN-20261207T200000  dqn" in text and "broken" in text and "still training" in text
    out = io.StringIO()
    rl_cmd._run_list(argparse.Namespace(models=tmp_path, json=True), None, out)  # type: ignore[arg-type]
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {r["model_id"] for r in rows} == {"dqn-SYN-20261207T200000", "broken"}


def test_the_cli_knows_every_agent_and_reward_without_importing_them() -> None:
    assert tuple(AGENTS) == rl_cmd.AGENT_NAMES and rl_cmd.REWARD_NAMES == REWARDS


def test_cli_and_registry_listing_never_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from console.cli import build_parser, main; build_parser();"
        "from engine.rl import registry; registry.list_models();"
        "rc = main(['rl', 'list']);"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium') if m in sys.modules];"
        "print('HEAVY', heavy, rc)"
    )
    env = {"ONETAP_MODELS": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "HEAVY [] 0" in out.stdout, out.stderr


def test_rl_train_refuses_bad_input_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["rl", "train", "sac", "--symbols", "AAPL", "--train-end", "2010-01-01"])
    assert "invalid choice: 'sac'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["rl", "train", "dqn", "--symbols", "AAPL", "--train-end", "2010-13-01"])
    assert "'2010-13-01' is not a date" in capsys.readouterr().err
    args = parser.parse_args(["rl", "train", "dqn", "--symbols", " , ", "--train-end", "2010-01-01"])
    assert args.runner(args, None) == rl_cmd.EXIT_USAGE
    assert "--symbols names no symbol" in capsys.readouterr().err


@pytest.mark.slow  # loads the shipped data and torch: ~10 s of CPU
def test_onetap_rl_train_then_list_on_the_shipped_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli import main

    argv = ["rl", "train", "dqn", "--symbols", "aapl", "--train-end", "2005-12-30", "--start", "2003-01-02"]
    argv += ["--steps", "300", "--window", "4", "--models", str(tmp_path), "--id", "cli-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "saved cli-run in" in out and "300 steps" in out
    meta = json.loads((tmp_path / "cli-run" / "meta.json").read_text())
    assert (
        meta["symbols"] == ["AAPL"]
        and meta["data_start"] >= "2003-01-02"
        and meta["data_end"] <= "2005-12-30"
    )
    assert main(["rl", "list", "--models", str(tmp_path)]) == 0
    assert "cli-run  dqn    AAPL" in capsys.readouterr().out
