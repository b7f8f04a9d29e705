"""Every option of every ``onetap`` command says what it is for, and bad ports are named, not traced."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from console.cli import build_parser, main
from engine.brokers.tws_sim.cli import build_parser as tws_sim_parser


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every action of ``parser`` and of each subcommand under it, named by its command path."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}")
        else:
            yield path, action


def _undocumented(parser: argparse.ArgumentParser, prog: str) -> list[str]:
    return [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, action in _walk(parser, prog)
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]


def test_the_walk_finds_an_option_without_help() -> None:
    """The check itself can fail: an option added without help is reported by its command path."""
    parser = argparse.ArgumentParser(prog="demo")
    sub = parser.add_subparsers().add_parser("run")
    sub.add_argument("--runs", type=int)
    assert _undocumented(parser, "demo") == ["demo run --runs"]


@pytest.mark.parametrize(
    ("prog", "parser"),
    [("onetap", build_parser), ("onetap tws-sim", tws_sim_parser)],
    ids=["onetap", "tws-sim"],
)
def test_every_option_of_every_command_has_help(prog: str, parser: object) -> None:
    assert callable(parser)
    built = parser()
    assert len(list(_walk(built, prog))) > 10  # the walk reached the subcommands
    assert _undocumented(built, prog) == []


@pytest.mark.parametrize("port", ["99999", "-1", "seventy"])
def test_tws_sim_bad_port_is_a_usage_error_naming_it(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tws-sim", "--port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--port" in err and port.lstrip("-") in err and "Traceback" not in err


def test_console_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--broker", "ibkr", "--port", "70000"])
    assert exit_.value.code == 2
    assert "70000 is outside 1-65535" in capsys.readouterr().err
