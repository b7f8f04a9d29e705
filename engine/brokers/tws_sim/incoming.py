"""Parsing client requests (ib_insync/ib_async/ibapi layouts, TWS_PROTOCOL_NOTES.md §3).

Only the fields the simulator acts on are pulled out. placeOrder is read by the fixed indices of a
plain (non-BAG) order, which every client writes identically up to the first optional group.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.brokers.tws_sim.codec import as_bool, as_float, as_int, as_optional_price
from engine.brokers.tws_sim.contracts import ContractQuery

# Client -> server message ids.
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_MKT_DEPTH = 10
CANCEL_MKT_DEPTH = 11
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_CURRENT_TIME = 49
REQ_GLOBAL_CANCEL = 58
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99


def read_contract(fields: list[str], at: int) -> ContractQuery:
    """The 12 contract fields ("C12") starting at index ``at``."""
    f = fields[at : at + 12] + [""] * max(0, at + 12 - len(fields))
    return ContractQuery(
        con_id=as_int(f[0]),
        symbol=f[1].upper(),
        sec_type=f[2].upper(),
        expiry=f[3],
        strike=as_float(f[4]),
        right=f[5].upper(),
        multiplier=f[6],
        exchange=f[7].upper(),
        primary_exchange=f[8].upper(),
        currency=f[9].upper(),
        local_symbol=f[10],
        trading_class=f[11],
    )


def _get(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""


@dataclass(frozen=True, slots=True)
class MktDataRequest:
    req_id: int
    contract: ContractQuery
    generic_ticks: str
    snapshot: bool


def read_mkt_data(fields: list[str]) -> MktDataRequest:
    """``1, 11, reqId, C12, [BAG legs], dncFlag, [dnc], genericTicks, snapshot, ...``."""
    contract = read_contract(fields, 3)
    i = 15
    if contract.sec_type == "BAG":
        i += 1 + 4 * as_int(_get(fields, i))
    dnc = as_bool(_get(fields, i))
    i += 1 + (3 if dnc else 0)
    return MktDataRequest(as_int(fields[2]), contract, _get(fields, i), as_bool(_get(fields, i + 1)))


@dataclass(frozen=True, slots=True)
class MktDepthRequest:
    req_id: int
    contract: ContractQuery
    rows: int
    smart_depth: bool


def read_mkt_depth(fields: list[str]) -> MktDepthRequest:
    """``10, 5, reqId, C12, numRows, isSmartDepth, mktDepthOptions``."""
    return MktDepthRequest(
        as_int(fields[2]), read_contract(fields, 3), as_int(_get(fields, 15)), as_bool(_get(fields, 16))
    )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """The parts of a placeOrder the simulated exchange understands."""

    order_id: int
    contract: ContractQuery
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    outside_rth: bool
    what_if: bool = False
    oca_group: str = ""
    oca_type: int = 0
    """1 cancel the others (with block), 2 reduce them (with block), 3 reduce them without block."""
    transmit: bool = True
    """False: TWS holds the order until an order of its chain arrives with transmit set."""
    parent_id: int = 0
    """A bracket child: the order id of the parent it works for once the parent fills."""
    trail_stop_price: float | None = None
    """TRAIL: the initial stop level (TWS computes one from the market when it is not given)."""
    trailing_percent: float | None = None
    """TRAIL: the distance in percent, used when ``aux_price`` (the distance in money) is unset."""


_DN_ORDER_TYPE_AT = 65
"""Index of deltaNeutralOrderType in a non-BAG placeOrder; the variable-length groups start here."""


_OCA_TYPE_AT = 47
"""Index of ocaType in a non-BAG placeOrder (after exemptCode)."""


def _continuous_update_at(fields: list[str]) -> int:
    """Index of continuousUpdate: referencePriceType, trailStopPrice and trailingPercent follow it."""
    i = _DN_ORDER_TYPE_AT
    if _get(fields, i):
        i += 8
    return i + 2  # deltaNeutralOrderType, deltaNeutralAuxPrice


def _what_if_at(fields: list[str]) -> int:
    """Walk the conditional groups the client writes after the fixed part up to whatIf."""
    i = _continuous_update_at(fields)
    increment = as_float(_get(fields, i + 6))
    i += 7  # continuousUpdate .. scalePriceIncrement
    if 0 < increment < 1e300:
        i += 7
    i += 3  # scaleTable, activeStartTime, activeStopTime
    hedged = bool(_get(fields, i))
    i += 2 if hedged else 1
    i += 4  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    i += 4 if as_bool(_get(fields, i)) else 1
    algo = _get(fields, i)
    i += 1
    if algo:
        i += 1 + 2 * as_int(_get(fields, i))
    return i + 1  # after algoId


def read_place_order(fields: list[str]) -> OrderRequest:
    """placeOrder by the fixed indices of TWS_PROTOCOL_NOTES.md §3 (no version field).

    The OCA, bracket and trailing fields are read for plain (non-BAG) orders only.
    """
    plain = _get(fields, 4).upper() != "BAG"
    trail_at = _continuous_update_at(fields) + 2 if plain else len(fields)
    return OrderRequest(
        order_id=as_int(fields[1]),
        contract=read_contract(fields, 2),
        action=_get(fields, 16).upper(),
        quantity=as_float(_get(fields, 17)),
        order_type=_get(fields, 18).upper(),
        lmt_price=as_optional_price(_get(fields, 19)),
        aux_price=as_optional_price(_get(fields, 20)),
        tif=_get(fields, 21).upper() or "DAY",
        account=_get(fields, 23),
        order_ref=_get(fields, 26),
        outside_rth=as_bool(_get(fields, 33)),
        what_if=as_bool(_get(fields, _what_if_at(fields))) if plain else False,
        oca_group=_get(fields, 22),
        oca_type=as_int(_get(fields, _OCA_TYPE_AT)) if plain else 0,
        transmit=as_bool(_get(fields, 27)) if _get(fields, 27) else True,
        parent_id=as_int(_get(fields, 28)),
        trail_stop_price=as_optional_price(_get(fields, trail_at)),
        trailing_percent=as_optional_price(_get(fields, trail_at + 1)),
    )


@dataclass(frozen=True, slots=True)
class ExecFilter:
    """reqExecutions' filter; empty / 0 fields match everything."""

    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


def read_executions(fields: list[str]) -> tuple[int, ExecFilter]:
    """``7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side``."""
    g = [_get(fields, i) for i in range(3, 10)]
    return as_int(fields[2]), ExecFilter(as_int(g[0]), g[1], g[2], g[3].upper(), g[4].upper(), g[5], g[6])


@dataclass(frozen=True, slots=True)
class HistoricalRequest:
    req_id: int
    contract: ContractQuery
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def read_historical(fields: list[str]) -> HistoricalRequest:
    """``20, reqId, C12, includeExpired, end, barSize, duration, useRTH, whatToShow, formatDate, ...``.

    No version field; barSize comes BEFORE duration.
    """
    contract = read_contract(fields, 2)
    i = 20
    if contract.sec_type == "BAG":
        i += 1 + 4 * as_int(_get(fields, i))
    return HistoricalRequest(
        req_id=as_int(fields[1]),
        contract=contract,
        end=_get(fields, 15),
        bar_size=_get(fields, 16),
        duration=_get(fields, 17),
        use_rth=as_bool(_get(fields, 18)),
        what_to_show=_get(fields, 19),
        format_date=as_int(_get(fields, 20), 1) if contract.sec_type != "BAG" else 1,
        keep_up_to_date=as_bool(_get(fields, i + 1)),
    )
