"""``onetap rl evaluate MODEL_OR_AGENT``: walk-forward out of sample against the baselines.

    onetap rl evaluate dqn-SPY-20261207T... [--folds 4 --min-train 756 --random 200 --json]
    onetap rl evaluate ppo --symbols AAPL,MSFT,IBM [--steps 5000 ...]
    onetap rl evaluate allocator --symbols AAPL,MSFT,IBM

A saved model is evaluated as its configuration (agent, symbols, features, reward, seed, steps):
each fold trains a fresh copy on the fold's past (``engine.rl.evaluate``), since the saved
weights have seen the early folds' test periods. The metrics go into the model's meta.json
(``oos_*``) and ``evaluation.json`` beside it. An agent name (or ``allocator``) needs
``--symbols``. Every evaluation counts as a trial in the registry's ``trials.json`` (the deflated
Sharpe's ``N``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.rl_cmd import AGENT_NAMES, EXIT_USAGE, REWARD_NAMES, Command, _date, _models_arg, _positive

if TYPE_CHECKING:
    from engine.config import Settings

LEARNERS = (*AGENT_NAMES, "allocator")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="MODEL_OR_AGENT", help=f"a model id (or prefix) or one of {', '.join(LEARNERS)}"
    )
    p.add_argument("--symbols", help="comma-separated symbols (default: the model's)")
    p.add_argument("--start", type=_date, metavar="DATE", help="first session (default: all the data)")
    p.add_argument("--end", type=_date, metavar="DATE", help="last session (default: all the data)")
    p.add_argument("--folds", type=_positive, default=4, help="walk-forward test blocks (default 4)")
    p.add_argument(
        "--min-train", type=_positive, default=756, help="sessions before the first test block (default 756)"
    )
    p.add_argument(
        "--steps", type=_positive, help="training steps per fold (default: the model's, else 5000)"
    )
    p.add_argument("--seed", type=int, help="seed (default: the model's, else 0)")
    p.add_argument("--reward", choices=REWARD_NAMES, help="reward (default: the model's, else log_return)")
    p.add_argument("--random", type=_positive, default=200, help="random agents drawn (default 200)")
    p.add_argument(
        "--templates",
        default=None,
        help="templates for the baselines and the allocator (default: the equity five)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes for the folds (default 1: in process)")
    p.add_argument("--json", action="store_true", help="the evaluation as JSON")
    _models_arg(p)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.rl import registry
    from engine.rl.evaluate import (
        DEFAULT_TEMPLATES,
        AgentLearner,
        clean_json,
        evaluate,
        fold_executor,
        format_table,
        load_panel,
        template_streams,
        write_to_record,
    )
    from engine.rl.train import symbols_of

    root: Path = args.models or registry.models_root()
    record = None
    try:
        if args.model not in LEARNERS:
            record = registry.find_model(args.model, root)
        templates = (
            tuple(t.strip() for t in args.templates.split(",")) if args.templates else DEFAULT_TEMPLATES
        )
        symbols = symbols_of(args.symbols) if args.symbols else (record.symbols if record else ())
        if not symbols:
            raise ValueError(f"{args.model} is an agent name: give --symbols")
        panel = load_panel(settings, symbols, args.start, args.end)
        streams = template_streams(panel, templates)
        seed = args.seed if args.seed is not None else (record.seed if record else 0)
        if args.model == "allocator":
            from engine.rl.allocator import AllocatorLearner

            learner: object = AllocatorLearner.from_panel(
                panel, templates, streams, steps=args.steps or 5_000, seed=seed
            )
        else:
            agent = record.agent if record else args.model
            learner = AgentLearner(
                agent=agent,
                steps=args.steps or (record.steps if record else 5_000),
                seed=seed,
                reward=args.reward
                or (str(record.env.get("reward", "log_return")) if record else "log_return"),
                window=int(record.env.get("window", 32)) if record else 32,
                features=record.features if record else AgentLearner(agent).features,
            )
    except (LookupError, ValueError) as exc:
        print(f"onetap rl evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    executor = fold_executor(args.workers)
    try:
        ev = evaluate(
            learner,  # type: ignore[arg-type]
            panel,
            n_folds=args.folds,
            min_train=args.min_train,
            n_random=args.random,
            seed=seed,
            executor=executor,
            registry_root=root,
            streams=streams,
        )
    except ValueError as exc:
        print(f"onetap rl evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        executor.close()
    if record is not None and record.path is not None:
        write_to_record(record.path, ev)
    if args.json:
        print(json.dumps(clean_json(ev.to_json()), indent=2))
    else:
        print(format_table(ev))
    return 0


COMMAND = Command(
    "walk-forward out of sample against the baselines (p-value, deflated Sharpe)", _configure, _run
)
