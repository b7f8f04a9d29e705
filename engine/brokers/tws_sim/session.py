"""One client connection: handshake, startApi, request dispatch and its subscriptions.

Orders and books live in the shared ``Exchange``; a session only keeps what the client
subscribed to, so dropping it loses nothing but those subscriptions (as with real TWS).
Nothing is written before the client's startApi (gotcha 5 of the notes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.brokers.tws_sim import incoming as req
from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.accounting import account_values, portfolio_lines, summary_rows
from engine.brokers.tws_sim.codec import (
    HANDSHAKE_PREFIX,
    as_bool,
    as_int,
    decode_payload,
    encode_frame,
    negotiate,
    parse_version_range,
)
from engine.brokers.tws_sim.depth import MAX_ROWS, MAX_SUBSCRIPTIONS, DepthSubscription
from engine.brokers.tws_sim.events import Quote, SimOrder
from engine.brokers.tws_sim.history import daily_bars
from engine.brokers.tws_sim.marketdata import quote_ticks
from engine.brokers.tws_sim.outgoing import Fields
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE, parse_ib_datetime

if TYPE_CHECKING:
    from engine.brokers.tws_sim.server import TwsSimulator

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024 * 1024
NO_SECURITY = "No security definition has been found for the request"


def _forget(table: dict[int, Any], fields: list[str]) -> None:
    """A cancel request: drop subscription ``reqId`` (field 2) if it exists."""
    table.pop(as_int(fields[2]), None)


@dataclass
class Subscriptions:
    """What this client asked to keep receiving."""

    market_data: dict[int, tuple[str, bool]] = field(default_factory=dict)  # reqId -> (key, delayed)
    positions: bool = False
    account_updates: str | None = None
    summaries: dict[int, set[str]] = field(default_factory=dict)
    multi: dict[int, str] = field(default_factory=dict)  # reqId -> account ('' = all)
    market_data_type: int = 1
    depth: dict[int, DepthSubscription] = field(default_factory=dict)


class Session:
    def __init__(self, sim: TwsSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.version = 0
        self.client_id: int | None = None
        self.subs = Subscriptions()
        self._pending: deque[tuple[float, bytes]] = deque()
        self._writer_task: asyncio.Task[None] | None = None
        self.closed = False
        self._handlers: dict[int, Callable[[list[str]], None]] = {
            req.REQ_MKT_DATA: self._req_mkt_data,
            req.CANCEL_MKT_DATA: lambda f: _forget(self.subs.market_data, f),
            req.REQ_MKT_DEPTH: self._req_mkt_depth,
            req.CANCEL_MKT_DEPTH: lambda f: _forget(self.subs.depth, f),
            req.PLACE_ORDER: self._place_order,
            req.CANCEL_ORDER: lambda f: self.sim.exchange.cancel(self._cid, as_int(f[2])),
            req.REQ_OPEN_ORDERS: lambda f: self._send_open_orders(self._cid),
            req.REQ_ALL_OPEN_ORDERS: lambda f: self._send_open_orders(None),
            req.REQ_AUTO_OPEN_ORDERS: lambda f: None,
            req.REQ_ACCOUNT_UPDATES: self._req_account_updates,
            req.REQ_EXECUTIONS: self._req_executions,
            req.REQ_IDS: lambda f: self.send(outgoing.next_valid_id(self.sim.exchange.next_valid_id)),
            req.REQ_CONTRACT_DETAILS: self._req_contract_details,
            req.REQ_MANAGED_ACCTS: lambda f: self.send(outgoing.managed_accounts(self.sim.config.accounts)),
            req.REQ_HISTORICAL_DATA: self._req_historical,
            req.CANCEL_HISTORICAL_DATA: lambda f: None,
            req.REQ_CURRENT_TIME: lambda f: self.send(outgoing.current_time(int(self.sim.now().timestamp()))),
            req.REQ_GLOBAL_CANCEL: lambda f: self.sim.exchange.global_cancel(),
            req.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            req.REQ_POSITIONS: self._req_positions,
            req.CANCEL_POSITIONS: lambda f: setattr(self.subs, "positions", False),
            req.REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            req.CANCEL_ACCOUNT_SUMMARY: lambda f: _forget(self.subs.summaries, f),
            req.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            req.CANCEL_ACCOUNT_UPDATES_MULTI: lambda f: _forget(self.subs.multi, f),
            req.REQ_COMPLETED_ORDERS: lambda f: self.send(outgoing.completed_orders_end()),
        }

    @property
    def _cid(self) -> int:
        return self.client_id if self.client_id is not None else -1

    # ------------------------------------------------------------------ writing
    def send(self, fields: Fields) -> None:
        """Queue one message; written at once unless latency or a stall is in force."""
        if self.closed:
            return
        data = encode_frame(fields)
        state = self.sim.faults.state
        now = self.sim.loop_time()
        if not self._pending and state.latency <= 0 and state.stalled_until <= now:
            self.writer.write(data)
            return
        self._pending.append((now + state.latency, data))
        if self._writer_task is None or self._writer_task.done():
            self._writer_task = asyncio.get_running_loop().create_task(self._drain_pending())

    async def _drain_pending(self) -> None:
        while self._pending and not self.closed:
            due, data = self._pending[0]
            wait = max(due, self.sim.faults.state.stalled_until) - self.sim.loop_time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._pending.popleft()
            self.writer.write(data)

    def error(self, req_id: int, code: int, message: str) -> None:
        self.send(outgoing.error(self.version, req_id, code, message))

    def close(self, abort: bool = True) -> None:
        """Forget the client and close the socket: abort at once (a drop), or flush then close."""
        if self.closed:
            return
        self.closed = True
        self.sim.release(self)
        if self._writer_task is not None:
            self._writer_task.cancel()
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()

    # ------------------------------------------------------------------ reading
    async def run(self) -> None:
        try:
            if await self._handshake():
                while not self.closed:
                    payload = await self._read_frame()
                    await self._wait_stall()
                    self._dispatch(decode_payload(payload))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            log.debug("client %s went away", self.client_id)  # a client may leave at any time
        finally:
            self.close()

    async def _read_frame(self) -> bytes:
        size = int.from_bytes(await self.reader.readexactly(4), "big")
        if size > MAX_FRAME:
            raise ConnectionError(f"frame of {size} bytes")
        return await self.reader.readexactly(size)

    async def _wait_stall(self) -> None:
        while (left := self.sim.faults.state.stalled_until - self.sim.loop_time()) > 0:
            await asyncio.sleep(left)

    async def _handshake(self) -> bool:
        if await self.reader.readexactly(4) != HANDSHAKE_PREFIX:
            return False
        wanted = parse_version_range((await self._read_frame()).decode(errors="replace"))
        version = negotiate(*wanted) if wanted is not None else None
        if version is None:
            return False
        self.version = version
        stamp = self.sim.now().astimezone(EXCHANGE_ZONE).strftime("%Y%m%d %H:%M:%S %Z")
        self.send(outgoing.handshake_reply(version, stamp))
        return True

    def _dispatch(self, fields: list[str]) -> None:
        if not fields:
            return
        msg_id = as_int(fields[0], -1)
        if self.client_id is None:
            if msg_id == req.START_API:
                self._start_api(fields)
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            log.debug("tws-sim: ignoring message %s", fields[:3])
            return
        try:
            handler(fields)
        except Exception:  # one malformed request must not take the connection down
            log.exception("tws-sim: could not handle %s", fields[:4])

    # ------------------------------------------------------------------ connection
    def _start_api(self, fields: list[str]) -> None:
        client_id = as_int(fields[2] if len(fields) > 2 else "0")
        if not self.sim.claim(self, client_id):
            self.error(-1, 326, f"Unable to connect as the client id {client_id} is already in use. "
                       "Retry with a unique client id.")  # fmt: skip
            self.close(abort=False)
            return
        self.client_id = client_id
        state = self.sim.faults.state
        next_id = max(1, self.sim.exchange.next_valid_id - state.rollback_next_id)
        state.rollback_next_id = 0
        self.send(outgoing.managed_accounts(self.sim.config.accounts))
        self.send(outgoing.next_valid_id(next_id))
        for code, text in (
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ):
            self.error(-1, code, text)

    # ------------------------------------------------------------------ contracts and data
    def _req_contract_details(self, fields: list[str]) -> None:
        req_id = as_int(fields[2])
        spec = self.sim.universe.resolve(req.read_contract(fields, 3))
        if spec is None:
            self.error(req_id, 200, NO_SECURITY)
            return
        self.send(outgoing.contract_details(self.version, req_id, spec))
        self.send(outgoing.contract_details_end(req_id))

    def _req_market_data_type(self, fields: list[str]) -> None:
        self.subs.market_data_type = as_int(fields[2], 1)

    def _req_mkt_data(self, fields: list[str]) -> None:
        request = req.read_mkt_data(fields)
        spec = self.sim.universe.resolve(request.contract)
        if spec is None:
            self.error(request.req_id, 200, NO_SECURITY)
            return
        asked = self.subs.market_data_type
        delayed = asked in (3, 4) or self.sim.config.delayed
        if not delayed and spec.key in self.sim.faults.state.denied_market_data:
            self.error(
                request.req_id,
                354,
                "Requested market data is not subscribed. Displaying delayed market data is available.",
            )
            return
        if delayed:
            self.error(
                request.req_id,
                10167,
                "Requested market data is not subscribed. Displaying delayed market data.",
            )
        self.send(
            outgoing.market_data_type(request.req_id, (asked if asked in (3, 4) else 3) if delayed else asked)
        )
        quote = self.sim.exchange.quote(spec.key)
        if quote is not None:
            for fields_out in quote_ticks(request.req_id, quote, delayed):
                self.send(fields_out)
        if request.snapshot:
            self.send(outgoing.tick_snapshot_end(request.req_id))
        else:
            self.subs.market_data[request.req_id] = (spec.key, delayed)

    def on_quote(self, key: str, quote: Quote) -> None:
        for req_id, (sub_key, delayed) in self.subs.market_data.items():
            if sub_key == key:
                for fields in quote_ticks(req_id, quote, delayed):
                    self.send(fields)
        for req_id, depth in self.subs.depth.items():
            if depth.key == key:
                self._send_depth(req_id, depth, quote)

    def _req_mkt_depth(self, fields: list[str]) -> None:
        """reqMktDepth: the synthetic book (``depth.py``) as inserts, then its changes per quote."""
        request = req.read_mkt_depth(fields)
        spec = self.sim.universe.resolve(request.contract)
        if spec is None:
            self.error(request.req_id, 200, NO_SECURITY)
            return
        if request.req_id not in self.subs.depth and len(self.subs.depth) >= MAX_SUBSCRIPTIONS:
            self.error(
                request.req_id,
                309,
                f"Max number ({MAX_SUBSCRIPTIONS}) of market depth requests has been reached",
            )
            return
        rows = min(max(request.rows, 1), MAX_ROWS)
        depth = DepthSubscription(spec.key, spec.min_tick, rows)
        self.subs.depth[request.req_id] = depth
        self._send_depth(request.req_id, depth, self.sim.exchange.quote(spec.key))

    def _send_depth(self, req_id: int, depth: DepthSubscription, quote: Quote | None) -> None:
        for op in depth.update(quote):
            self.send(outgoing.market_depth(req_id, op.position, op.operation, op.side, op.price, op.size))

    def _req_historical(self, fields: list[str]) -> None:
        request = req.read_historical(fields)
        spec = self.sim.universe.resolve(request.contract)
        if spec is None:
            self.error(request.req_id, 200, NO_SECURITY)
            return
        if spec.sec_type == "CASH":
            self._fx_history(request, spec.key)
            return
        answer = daily_bars(
            self.sim.history_bars(),
            spec.key,
            request.end,
            request.duration,
            request.bar_size,
            self.sim.now(),
            self.sim.tape,
        )
        if answer.problem is not None:
            self.error(request.req_id, 162, answer.problem)
            return
        self.send(outgoing.historical_data(request.req_id, answer.start, answer.end, answer.bars))

    def _fx_history(self, request: req.HistoricalRequest, key: str) -> None:
        """A pair's bars from the series its quotes come from (``fx_history.py``), never past
        how far that series has been played."""
        tape = self.sim.fx_tapes.get(key)
        if tape is None:
            self.error(
                request.req_id,
                162,
                f"Historical Market Data Service error message:no forex series for {key} "
                "(the simulator quotes a pair from --fx-series)",
            )
            return
        answer = tape.answer(
            request.what_to_show, request.end, request.duration, request.bar_size, request.format_date
        )
        if answer.problem is not None:
            self.error(request.req_id, 162, answer.problem)
            return
        self.send(outgoing.historical_data(request.req_id, answer.start, answer.end, answer.bars))

    # ------------------------------------------------------------------ orders
    def _place_order(self, fields: list[str]) -> None:
        request = req.read_place_order(fields)
        spec = self.sim.universe.resolve(request.contract)
        if spec is None or request.contract.sec_type == "BAG":
            self.sim.exchange.see_order_id(request.order_id)
            self.error(request.order_id, 200, NO_SECURITY)
            return
        if request.what_if:
            preview = self.sim.exchange.what_if(request, spec)
            order = self.sim.exchange.preview_order(self._cid, request, spec)
            self.send(outgoing.open_order(self.version, order, preview))
            return
        self.sim.exchange.place(self._cid, request, spec)

    def _send_open_orders(self, client_id: int | None) -> None:
        for order in self.sim.exchange.open_orders(client_id):
            self.send_order(order)
        self.send(outgoing.open_order_end())

    def send_order(self, order: SimOrder, with_open_order: bool = True) -> None:
        if with_open_order:
            self.send(outgoing.open_order(self.version, order))
        self.send(outgoing.order_status(order))

    def _req_executions(self, fields: list[str]) -> None:
        req_id, flt = req.read_executions(fields)
        since = parse_ib_datetime(flt.time)
        master = self.sim.config.master_client_id
        for ex in self.sim.exchange.query_executions(flt, since):
            if master != self._cid and ex.client_id != self._cid:
                continue  # like TWS: only the master API client sees other clients' executions
            self.send(outgoing.exec_details(self.version, req_id, ex))
            self.send(outgoing.commission_report(ex))
        self.send(outgoing.exec_details_end(req_id))

    # ------------------------------------------------------------------ accounts
    def _req_positions(self, fields: list[str]) -> None:
        self.subs.positions = True
        for name, account in self.sim.exchange.accounts.items():
            for pos in account.positions.values():
                if pos.quantity:
                    self.send(outgoing.position(name, pos.spec, pos.quantity, pos.avg_cost))
        self.send(outgoing.position_end())

    def _req_account_updates(self, fields: list[str]) -> None:
        subscribe, account = as_bool(fields[2]), fields[3] if len(fields) > 3 else ""
        account = account or self.sim.config.accounts[0]
        if not subscribe or account not in self.sim.exchange.accounts:
            self.subs.account_updates = None
            return
        self.subs.account_updates = account
        self._push_account(account, None)
        self.send(outgoing.account_download_end(account))

    def _push_account(self, account: str, keys: list[str] | None) -> None:
        for fields in account_values(self.sim.exchange, account):
            self.send(fields)
        for fields in portfolio_lines(self.sim.exchange, account, keys):
            self.send(fields)
        self.send(outgoing.account_time(self.sim.now().astimezone(EXCHANGE_ZONE).strftime("%H:%M")))

    def _req_account_summary(self, fields: list[str]) -> None:
        req_id = as_int(fields[2])
        tags = {t.strip() for t in (fields[4] if len(fields) > 4 else "").split(",") if t.strip()}
        self.subs.summaries[req_id] = tags
        self._push_summary(req_id, tags, None)
        self.send(outgoing.account_summary_end(req_id))

    def _push_summary(self, req_id: int, tags: set[str], only: str | None) -> None:
        for account in self.sim.exchange.accounts:
            if only is None or account == only:
                for tag, value, currency in summary_rows(self.sim.exchange, account, tags):
                    self.send(outgoing.account_summary(req_id, account, tag, value, currency))

    def _req_account_updates_multi(self, fields: list[str]) -> None:
        req_id, account = as_int(fields[2]), fields[3] if len(fields) > 3 else ""
        self.subs.multi[req_id] = account
        self._push_multi(req_id, account, None)
        self.send(outgoing.account_update_multi_end(req_id))

    def _push_multi(self, req_id: int, account: str, only: str | None) -> None:
        for name in self.sim.exchange.accounts:
            if (not account or account == name) and (only is None or only == name):
                for key, value, currency in summary_rows(self.sim.exchange, name, set()):
                    self.send(outgoing.account_update_multi(req_id, name, key, value, currency))

    def on_book(self, account: str, key: str) -> None:
        """Cash or a position changed: push to every subscription that shows it."""
        book = self.sim.exchange.accounts[account]
        pos = book.positions.get(key)
        if self.subs.positions and pos is not None:
            self.send(outgoing.position(account, pos.spec, pos.quantity, pos.avg_cost))
        if self.subs.account_updates == account:
            self._push_account(account, [key] if key else [])
        for req_id, tags in self.subs.summaries.items():
            self._push_summary(req_id, tags, account)
        for req_id, wanted in self.subs.multi.items():
            self._push_multi(req_id, wanted, account)
