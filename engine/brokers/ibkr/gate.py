"""The live-trading gate: an IBKR connection trades real money only when asked in so many words.

Three facts must agree before orders may reach a live account: the operator's flag (``--live``),
the port (TWS and IB Gateway use different ports for paper and live), and the account IBKR says
it manages (paper accounts start with ``DU``). Any disagreement refuses to start, with a line
saying which fact contradicts which, because a mismatch is exactly how people trade live by accident.
Then, once per run, a person acknowledges the live account by typing its id (the console asks;
a headless engine reads ``[ibkr] live_acknowledge``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import LIVE_PORTS, PAPER_PORTS, IbkrSettings

PAPER_ACCOUNT_PREFIXES = ("DU", "DF")
"""IBKR's paper (simulated) account ids: DU for individual, DF for advisor paper accounts."""


class LiveGateError(Exception):
    """Starting would contradict the live-trading flag, the port or the account; says which."""


def is_paper_account(account: str) -> bool:
    return account.upper().startswith(PAPER_ACCOUNT_PREFIXES)


def check_settings(settings: IbkrSettings) -> None:
    """Before connecting: the flag, the port and the configured account must agree."""
    port, account = settings.port, settings.account.strip()
    if settings.live:
        if port in PAPER_PORTS:
            raise LiveGateError(
                f"--live with port {port}, a paper-trading port: a live account listens on 7496 (TWS) "
                "or 4001 (IB Gateway); drop --live to trade paper"
            )
        if not account:
            raise LiveGateError(
                "--live needs the live account id: pass --account U1234567 (or set [ibkr] account)"
            )
        if is_paper_account(account):
            raise LiveGateError(
                f"--live with account {account}, a paper account (DU...): drop --live to trade paper"
            )
    else:
        if port in LIVE_PORTS:
            raise LiveGateError(
                f"port {port} is a live-trading port: pass --live (with --account) to trade a live "
                "account, or connect to the paper port 7497 (TWS) / 4002 (IB Gateway)"
            )
        if account and not is_paper_account(account):
            raise LiveGateError(f"account {account} is not a paper account (DU...): pass --live to trade it")


def choose_account(settings: IbkrSettings, managed: Sequence[str]) -> str:
    """After connecting: the account to trade, which must be one IBKR manages and match the flag."""
    accounts = [a.strip() for a in managed if a.strip()]
    if not accounts:
        raise LiveGateError("IBKR reported no managed accounts: is the login complete in TWS?")
    wanted = settings.account.strip()
    if wanted:
        if wanted not in accounts:
            raise LiveGateError(
                f"account {wanted} is not managed by this login (managed: {', '.join(accounts)})"
            )
        account = wanted
    elif len(accounts) == 1:
        account = accounts[0]
    else:
        raise LiveGateError(
            f"this login manages several accounts ({', '.join(accounts)}): choose one with --account"
        )
    paper = is_paper_account(account)
    if settings.live and paper:
        raise LiveGateError(f"--live but IBKR's account {account} is a paper account: drop --live")
    if not settings.live and not paper:
        raise LiveGateError(
            f"IBKR's account {account} is a live account but --live was not given: "
            "onetap refuses to trade it (connect to a paper login, or pass --live --account "
            f"{account})"
        )
    return account


def acknowledged(settings: IbkrSettings, account: str, typed: str) -> bool:
    """Whether ``typed`` (the operator's entry, or the headless setting) acknowledges ``account``."""
    return bool(account) and typed.strip() == account
