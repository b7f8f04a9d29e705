"""One encoder per server -> client message, gated on the connection's server version.

Each returns the list of fields (message id first) for ``codec.encode_frame``. Field orders follow
TWS_PROTOCOL_NOTES.md §4-5 and ib_insync 0.9.86's decoder, which unpacks several messages strictly:
one field too many or too few silently loses the message on the client side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from engine.brokers.tws_sim.codec import UNSET_DOUBLE, Field
from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.events import Execution, SimOrder, WhatIf

# Server -> client message ids.
TICK_PRICE = 1
TICK_SIZE = 2
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MARKET_DEPTH = 12
MANAGED_ACCTS = 15
HISTORICAL_DATA = 17
TICK_STRING = 46
CURRENT_TIME = 49
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
TICK_SNAPSHOT_END = 57
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDERS_END = 102

# Version gates (official client's MIN_SERVER_VER_* names).
SV_SIZE_RULES = 164
SV_ADVANCED_ORDER_REJECT = 166
SV_DURATION = 158
SV_POST_TO_ATS = 160
SV_AUTO_CANCEL_PARENT = 162
SV_PEGBEST_PEGMID_OFFSETS = 170
SV_FA_PROFILE_DESUPPORT = 177
SV_PENDING_PRICE_REVISION = 178

Fields = list[Field]


def _price(value: float | None) -> Field:
    return "" if value is None else round(value, 8)


def contract11(spec: ContractSpec, exchange: str | None = None) -> Fields:
    """conId, symbol, secType, lastTrade, strike, right, multiplier, exchange, currency, localSymbol,
    tradingClass (the C11 block: like a request's C12 without primaryExchange)."""
    return [
        spec.con_id,
        spec.symbol,
        spec.sec_type,
        spec.expiry,
        spec.strike,
        spec.right,
        spec.multiplier_text,
        spec.route if exchange is None else exchange,
        spec.currency,
        spec.local_symbol,
        spec.trading_class,
    ]


# ---------------------------------------------------------------------- connection
def handshake_reply(version: int, connection_time: str) -> Fields:
    return [version, connection_time]


def managed_accounts(accounts: Sequence[str]) -> Fields:
    return [MANAGED_ACCTS, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> Fields:
    return [NEXT_VALID_ID, 1, order_id]


def error(version: int, req_id: int, code: int, message: str) -> Fields:
    fields: Fields = [ERR_MSG, 2, req_id, code, message]
    if version >= SV_ADVANCED_ORDER_REJECT:
        fields.append("")
    return fields


def current_time(epoch_seconds: int) -> Fields:
    return [CURRENT_TIME, 1, epoch_seconds]


# ---------------------------------------------------------------------- market data
def tick_price(req_id: int, tick_type: int, price: float, size: float) -> Fields:
    return [TICK_PRICE, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    return [TICK_SIZE, 6, req_id, tick_type, size]


def market_depth(req_id: int, position: int, operation: int, side: int, price: float, size: float) -> Fields:
    """updateMktDepth (12): operation 0 insert / 1 update / 2 delete, side 0 ask / 1 bid."""
    return [MARKET_DEPTH, 1, req_id, position, operation, side, price, size]


def market_data_type(req_id: int, data_type: int) -> Fields:
    return [MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_snapshot_end(req_id: int) -> Fields:
    return [TICK_SNAPSHOT_END, 1, req_id]


def historical_data(req_id: int, start: str, end: str, bars: Sequence[Sequence[Field]]) -> Fields:
    """Each bar: date, open, high, low, close, volume, WAP, barCount (no version field)."""
    fields: Fields = [HISTORICAL_DATA, req_id, start, end, len(bars)]
    for bar in bars:
        fields.extend(bar)
    return fields


# ---------------------------------------------------------------------- contracts
def contract_details(version: int, req_id: int, spec: ContractSpec) -> Fields:
    """contractDetails (10): version field and mdSizeMultiplier only below 164.

    Forex and futures name their own exchange (IDEALPRO, CME...) and tick; a pair's sizes are
    units of its base currency (minimum and increment 1: the simulator fills odd lots too).
    """
    is_option = spec.sec_type == "OPT"
    other = _OTHER_KINDS.get(spec.sec_type)
    if other is not None:
        valid_exchanges = other[0] or spec.route
    else:
        valid_exchanges = "SMART,CBOE,AMEX" if is_option else "SMART,NYSE,NASDAQ,ARCA,BATS,IEX"
    fields: Fields = [CONTRACT_DATA]
    if version < SV_SIZE_RULES:
        fields.append(8)
    fields += [
        req_id,
        spec.symbol,
        spec.sec_type,
        spec.expiry,
        spec.strike,
        spec.right,
        spec.route,
        spec.currency,
        spec.local_symbol,
        spec.trading_class,  # marketName
        spec.trading_class,
        spec.con_id,
        spec.min_tick,
    ]
    if version < SV_SIZE_RULES:
        fields.append(1)  # mdSizeMultiplier
    fields += [
        spec.multiplier_text,
        "LMT,MKT,STP,STP LMT",
        valid_exchanges,
        1,  # priceMagnifier
        spec.under_con_id,
        spec.long_name,
        spec.primary_exchange,
        spec.contract_month or spec.expiry[:6],  # contractMonth
        "",  # industry
        "",  # category
        "",  # subcategory
        "US/Eastern",
        "",  # tradingHours
        "",  # liquidHours
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdCount
        1,  # aggGroup
        spec.symbol if is_option else "",
        "STK" if is_option else "",
        other[1] if other else "26" if not is_option else "32",  # marketRuleIds
        spec.expiry,  # realExpirationDate
        spec.stock_type,
    ]
    if version == SV_SIZE_RULES - 1:
        fields.append(1 if is_option or other else 100)
    if version >= SV_SIZE_RULES:
        fields += [1, 1, 1] if is_option or other else [0.0001, 0.0001, 100]
    return fields


_OTHER_KINDS = {"CASH": ("IDEALPRO", "239"), "FUT": ("", "67")}
"""validExchanges (empty: the contract's own) and marketRuleIds of forex and futures."""


def contract_details_end(req_id: int) -> Fields:
    return [CONTRACT_DATA_END, 1, req_id]


# ---------------------------------------------------------------------- orders
def order_status(order: SimOrder) -> Fields:
    """orderStatus (3), no version field: cumulative filled / remaining, echoing clientId and permId."""
    return [
        ORDER_STATUS,
        order.order_id,
        order.status,
        order.filled,
        order.remaining,
        round(order.avg_fill_price, 8),
        order.perm_id,
        order.parent_id,
        order.last_fill_price,
        order.client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    ]


def _order_state(what_if: WhatIf | None) -> Fields:
    """initMargin/maintMargin/equityWithLoan before, change, after; commission, min, max, currency."""
    if what_if is None:
        unset: Fields = [UNSET_DOUBLE] * 12
        return [*unset, "USD"]
    w = what_if
    money = [
        0.0, 0.0, w.equity_before,
        w.init_margin_change, w.init_margin_change, w.equity_change,
        w.init_margin_change, w.init_margin_change, w.equity_before + w.equity_change,
    ]  # fmt: skip
    texts: Fields = [f"{m:.2f}" for m in money]
    return [*texts, w.commission, UNSET_DOUBLE, UNSET_DOUBLE, "USD"]


def open_order(version: int, order: SimOrder, what_if: WhatIf | None = None) -> Fields:
    """openOrder (5) for a plain order: 120 fields at 157, 128 at 176, 127 at 178.

    With ``what_if`` it is the preview reply of a whatIf order (whatIf=1, real margin numbers).
    """
    fa_profile: Fields = [""] if version < SV_FA_PROFILE_DESUPPORT else []
    trail = _price(order.trail_stop_price)  # written twice: ib_insync reads the second one last
    fields: Fields = [OPEN_ORDER, order.order_id, *contract11(order.spec)]
    fields += [
        order.action, order.quantity, order.order_type, _price(order.lmt_price), _price(order.aux_price),
        order.tif, order.oca_group, order.account, "O", 0, order.order_ref, order.client_id, order.perm_id,
        order.outside_rth, False, 0, "", "",
        "", "", "", *fa_profile,  # faGroup, faMethod, faPercentage, [faProfile]
        "", "", "", "", "", 0, "", -1,  # modelCode .. exemptCode
        0, "", "", "", "", "",  # auctionStrategy, startingPrice .. stockRangeUpper
        "", False, False, False, "", order.oca_type or 3,  # displaySize .. minQty, ocaType
        False, False, "", order.parent_id, 0,  # eTradeOnly .. parentId, triggerMethod
        "", 0, "", "",  # volatility, volatilityType, dnOrderType (empty: no dn block), dnAuxPrice
        False, 0, trail, _price(order.trailing_percent), "", "", "",  # continuousUpdate .. comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo params
        "", "", "",  # scale: initLevelSize, subsLevelSize, priceIncrement (empty: no block)
        "",  # hedgeType (empty: no hedgeParam)
        False, "", "", False,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
        False,  # deltaNeutralContractPresent
        "",  # algoStrategy (empty: no params)
        False, what_if is not None,  # solicited, whatIf
        order.status,
        *_order_state(what_if),  # margins (strings), commissions, currency
        "",  # warningText
        False, False,  # randomizeSize, randomizePrice
        0,  # conditionCount
        "", "", trail, "", "", "", "", 0,  # adjustedOrderType .. adjustableTrailingUnit
        "", "", "",  # softDollarTier
        "", False, False, "", "",  # cashQty .. usePriceMgmtAlgo
    ]  # fmt: skip
    if version >= SV_DURATION:
        fields.append("")
    if version >= SV_POST_TO_ATS:
        fields.append("")
    if version >= SV_AUTO_CANCEL_PARENT:
        fields.append(False)
    if version >= SV_PEGBEST_PEGMID_OFFSETS:
        fields += ["", "", "", "", ""]
    return fields


def open_order_end() -> Fields:
    return [OPEN_ORDER_END, 1]


def completed_orders_end() -> Fields:
    return [COMPLETED_ORDERS_END]


def ib_time(when: datetime) -> str:
    """Execution times as ``YYYYMMDD HH:MM:SS UTC`` (ib_insync parses the zone name)."""
    return when.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def exec_details(version: int, req_id: int, ex: Execution) -> Fields:
    """execDetails (11): 31 fields up to 177, 32 from 178 (pendingPriceRevision)."""
    fields: Fields = [
        EXECUTION_DATA,
        req_id,
        ex.order_id,
        *contract11(ex.spec),
        ex.exec_id,
        ib_time(ex.time),
        ex.account,
        ex.spec.venue,
        ex.side,
        ex.shares,
        ex.price,
        ex.perm_id,
        ex.client_id,
        0,  # liquidation
        ex.cum_qty,
        round(ex.avg_price, 8),
        ex.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        2,  # lastLiquidity: removed liquidity
    ]
    if version >= SV_PENDING_PRICE_REVISION:
        fields.append(False)
    return fields


def exec_details_end(req_id: int) -> Fields:
    return [EXECUTION_DATA_END, 1, req_id]


def commission_report(ex: Execution) -> Fields:
    realized: Field = UNSET_DOUBLE if ex.realized_pnl is None else ex.realized_pnl
    return [COMMISSION_REPORT, 1, ex.exec_id, ex.commission, "USD", realized, "", ""]


# ---------------------------------------------------------------------- account
def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    return [ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(
    spec: ContractSpec,
    position: float,
    market_price: float,
    market_value: float,
    avg_cost: float,
    unrealized: float,
    realized: float,
    account: str,
) -> Fields:
    """updatePortfolio (7): 20 fields; primaryExchange where other messages have exchange."""
    return [
        PORTFOLIO_VALUE, 8, spec.con_id, spec.symbol, spec.sec_type, spec.expiry, spec.strike, spec.right,
        spec.multiplier_text, spec.primary_exchange, spec.currency, spec.local_symbol, spec.trading_class,
        position, round(market_price, 8), round(market_value, 4), round(avg_cost, 8), round(unrealized, 4),
        round(realized, 4), account,
    ]  # fmt: skip


def account_time(hhmm: str) -> Fields:
    return [ACCT_UPDATE_TIME, 1, hhmm]


def account_download_end(account: str) -> Fields:
    return [ACCT_DOWNLOAD_END, 1, account]


def position(account: str, spec: ContractSpec, quantity: float, avg_cost: float) -> Fields:
    venue = spec.primary_exchange or (spec.route if spec.route != "SMART" else "")
    return [POSITION_DATA, 3, account, *contract11(spec, venue), quantity, round(avg_cost, 8)]


def position_end() -> Fields:
    return [POSITION_END, 1]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    return [ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Fields:
    return [ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [ACCOUNT_UPDATE_MULTI_END, 1, req_id]
