"""``onetap rl train | list``: learning agents from the command line.

    onetap rl train dqn --symbols SPY --train-end 2019-12-31 [--steps 20000 --seed 0 --reward log_return]
    onetap rl list [--json] [--models DIR]

``train`` shows a progress bar (steps, mean episode reward, loss, validation reward) and saves the
model with its metadata under the data directory (``engine.rl.registry``); ``list`` reads that
registry without importing torch. Subcommands are entries of ``COMMANDS``: ``onetap rl evaluate``
is added there by the evaluation module (one ``Command`` with its parser and runner).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.rl.registry import ModelRecord

EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _models_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=Path, metavar="DIR", help="the model registry (default: data dir/models)")


# -- train ----------------------------------------------------------------------------------------

AGENT_NAMES = ("dqn", "double-dqn", "per-dqn", "mha-dqn", "ppo", "mha-ppo")
"""``engine.rl.agents.AGENTS``' keys, repeated so ``--help`` does not import torch (tested equal)."""
REWARD_NAMES = ("log_return", "sharpe", "drawdown")


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent", choices=AGENT_NAMES, help="the agent to train")
    p.add_argument("--symbols", required=True, help="comma-separated symbols it trades")
    p.add_argument("--train-end", type=_date, required=True, metavar="DATE", help="last session it may see")
    p.add_argument("--start", type=_date, metavar="DATE", help="first session (default: all the data)")
    p.add_argument("--steps", type=_positive, default=20_000, help="environment steps (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--reward", choices=REWARD_NAMES, default="log_return", help="the reward (default log_return)"
    )
    p.add_argument("--window", type=_positive, default=32, help="bars in an observation (default 32)")
    p.add_argument("--envs", type=_positive, default=1, help="environments stepped together (default 1)")
    p.add_argument(
        "--validation", type=float, default=0.2, help="share kept for early stopping (default 0.2)"
    )
    p.add_argument("--patience", type=_positive, default=5, help="evaluations without gain before stopping")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    p.add_argument("--id", dest="model_id", help="the model's id (default: agent-symbols-time)")
    _models_arg(p)


def _run_train(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.rl.train import Progress as Shown
    from engine.rl.train import TrainSpec, load_panel, symbols_of, train

    stream = out or sys.stdout
    try:
        symbols = symbols_of(args.symbols)
        spec = TrainSpec(
            agent=args.agent,
            train_end=args.train_end,
            steps=args.steps,
            seed=args.seed,
            reward=args.reward,
            window=args.window,
            n_envs=args.envs,
            validation=args.validation,
            patience=args.patience,
            device=args.device,
        )
        panel = load_panel(settings, symbols, args.start, args.train_end)
    except ValueError as exc:
        print(f"onetap rl train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    console = Console(file=sys.stderr)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ep.reward {task.fields[reward]}  loss {task.fields[loss]}  val {task.fields[val]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(
            f"{spec.agent} {','.join(symbols)}", total=spec.steps, reward="-", loss="-", val="-"
        )

        def show(p: Shown) -> None:
            bar.update(
                task,
                completed=p.step,
                reward=_num(p.episode_reward),
                loss=_num(p.loss),
                val=_num(p.val_reward),
            )

        try:
            result = train(spec, panel, args.models, on_progress=show, model_id=args.model_id)
        except ValueError as exc:
            print(f"onetap rl train: {exc}", file=sys.stderr)
            return EXIT_USAGE
    record = result.record
    stopped = " (stopped early)" if record.metrics.get("stopped_early") else ""
    print(f"saved {record.model_id}{stopped} in {record.path}", file=stream)
    print(
        f"{record.steps} steps in {result.seconds:.1f}s ({result.steps_per_second:.0f}/s); validation "
        f"{record.val_start}..{record.data_end}: return {_pct(record.metrics.get('total_return'))}, "
        f"Sharpe {_num(record.metrics.get('sharpe'))}",
        file=stream,
    )
    return 0


# -- list -----------------------------------------------------------------------------------------


def _configure_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    _models_arg(p)


def _run_list(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    from engine.rl.registry import list_models, models_root

    stream = out or sys.stdout
    root = args.models or models_root()
    records = list_models(root)
    if args.json:
        for r in records:
            row = {**r.to_json(), "path": str(r.path), "problem": r.problem}
            row.pop("curve", None)
            print(json.dumps(row, default=str), file=stream)
        return 0
    if not records:
        print(
            f"no models under {root} (train one with `onetap rl train dqn --symbols SPY --train-end DATE`)",
            file=stream,
        )
        return 0
    print(_table(records), file=stream)
    return 0


def _table(records: list[ModelRecord]) -> str:
    head = ("model", "agent", "symbols", "data", "train end", "steps", "val return", "val Sharpe", "code")
    rows = [head]
    for r in records:
        if r.problem:
            rows.append((r.model_id, "-", "-", "-", "-", "-", "-", "-", r.problem))
            continue
        rows.append(
            (
                r.model_id,
                r.agent,
                ",".join(r.symbols),
                f"{r.data_start}..{r.data_end}",
                r.train_end,
                str(r.steps),
                _pct(r.metrics.get("total_return")),
                _num(r.metrics.get("sharpe")),
                r.code_version,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows
    )


def _num(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 100:+.1f}%"


COMMANDS: dict[str, Command] = {
    "train": Command("train an agent up to a date and save it to the registry", _configure_train, _run_train),
    "list": Command("the saved models and what they are", _configure_list, _run_list),
    # "evaluate": added below by console.rl_evaluate_cmd (walk-forward against the baselines)
}


def _add_evaluate() -> None:
    from console.rl_evaluate_cmd import COMMAND

    COMMANDS["evaluate"] = COMMAND


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_evaluate()
    rl = subparsers.add_parser("rl", help="learning agents: train, list (and evaluate) models")
    actions = rl.add_subparsers(dest="rl_command", required=True)
    for name, command in COMMANDS.items():
        p = actions.add_parser(name, help=command.help)
        command.configure(p)
        p.set_defaults(runner=command.run)
