"""The embedded paper broker: a broker with its own cash-account ledger, driven by replayed quotes.

A package by what each part owns: ``account`` (cash, settled cash, positions), ``fees`` (the one
commission schedule applied fill by fill), ``matching`` (the fill model), ``options`` (the option
market and expiry settlement), ``checks`` (why an order is refused), ``journal`` (the file),
``state`` (what the journal rebuilds, and the only code that changes it) and ``broker``
(``PaperBroker`` tying them into a ``Broker``). The rules, whole:

It is the product's default broker, so it behaves like one rather than like a backtest shortcut:
orders are acknowledged when accepted and fill only against quotes that arrive afterwards (the
broker knows prices from quotes alone), fills are limited by the volume that actually traded,
commissions and slippage are charged, and sale proceeds settle T+N so a cash account cannot
spend money it does not yet have. Reports go to the reporter synchronously and in order, on the
caller's loop, exactly as the order manager expects from any adapter.

It also remembers, as a real broker does. With a journal file every change of its state (an
order accepted or rejected, a stop triggered, a fill, a cancel, a session close with its
expiries, a restore) is appended as one JSON line and fsynced *before* the report leaves, and
the state is changed only by applying that line. A broker built over an existing journal
replays it and is in exactly the state it was in when the process died: its working orders,
fills, positions, cash, unsettled proceeds and every client order id it has seen (so a
re-submitted id replays its reports instead of trading twice). After a crash the engine
reconciles against that memory (``engine.execution.recovery``). Quotes are market data, not
broker state, and are not journaled: after a restart the broker waits for the next quote.

Protective orders work as at IBKR (``linked``): STP, STP LMT and TRAIL (the trailing level is
the order's stop price, journaled and reported as it tightens), one-cancels-all groups with
IB's ocaType 3 (a full fill cancels the others, a partial one shrinks them), and native brackets
(``place_bracket``: children held until the entry fills, then working its filled quantity). A
stop fills against the quote that triggers it, so a session opening beyond it fills at the open.
GTC orders survive session closes and restarts (the journal). A quote matches its own symbol's
orders only (``PaperState.by_symbol``), stops before targets.

Listed equity options trade here too, under their OCC symbol (``engine.model.options``), once
the engine has given the underlying a volatility (``set_option_volatility``). Nothing quotes
options in the replay, so the broker makes their market from a model: Black-Scholes
(``engine.risk.greeks.black_scholes``) on the underlying's latest mid, that volatility, the
``option_rate`` and the time left to the expiry close at the underlying quote's timestamp,
with a half-spread of max(0.025, 1% of the model price), the bid rounded down and the ask up
to a uniform 0.01 tick (the penny tick; listed options above 3.00 mostly trade in 0.05, which
this does not model). An option order is matched when its underlying quotes: a market buy
fills at the model ask and a sell at the model bid (no slippage on top: the spread is the
cost; a sell with a zero bid waits), a limit when the model crosses it, always in full (there
is no option volume to participate in), in whole contracts. Money is quantity x price x
``contract_multiplier`` (100); commission is ``commission_per_contract`` with the same
per-order minimum as shares (no value cap, no percentage). The only short option allowed is a
covered call: the shares held, less working sells, must cover every short call on them x 100;
a short put or an uncovered call is refused whatever ``allow_short`` says, and so is a sale of
shares that a short call needs.

At the close of an option's expiry day (``on_session_close``) every position in it is settled
in cash at its intrinsic value against the underlying's close (the last trade of its latest
quote, or the close the engine passes), x the multiplier: a long is sold and a short bought
back at that price, with no commission, by a broker-made order whose id starts with
``SETTLEMENT_PREFIX``. That is a simplification: real US equity options are physically
settled (exercise delivers the shares at the strike); the money and the equity are the same,
the share position is not. The settlement is part of the close's one journal line and is
reported as an ``OrderFilled`` like any fill, preceded by the settlement hook (see
``set_settlement_hook``) so the engine can record the order that fill belongs to.
"""

from engine.brokers.paper.account import PaperAccount
from engine.brokers.paper.broker import PaperBroker
from engine.brokers.paper.journal import JOURNAL_VERSION, JournalError, journal_path_for, read_journal
from engine.brokers.paper.options import (
    OPTION_HALF_SPREAD_PCT,
    OPTION_MIN_HALF_SPREAD,
    OPTION_TICK,
    SETTLEMENT_PREFIX,
    SettlementHook,
)
from engine.brokers.paper.state import PaperJournalState, PaperOrderState, PendingProceeds

__all__ = [
    "JOURNAL_VERSION",
    "OPTION_HALF_SPREAD_PCT",
    "OPTION_MIN_HALF_SPREAD",
    "OPTION_TICK",
    "SETTLEMENT_PREFIX",
    "JournalError",
    "PaperAccount",
    "PaperBroker",
    "PaperJournalState",
    "PaperOrderState",
    "PendingProceeds",
    "SettlementHook",
    "journal_path_for",
    "read_journal",
]
