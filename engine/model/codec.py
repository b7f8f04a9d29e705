"""JSON-safe encoding of the model's dataclasses, for the socket protocol and the audit log.

One place knows how a value crosses a process boundary: dataclasses become dicts tagged
with their type name, enums their value, datetimes ISO-8601. Decoding is driven by the
type hints, so a wrong or missing field fails with a message naming it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import types
import typing
from datetime import date, datetime
from enum import Enum
from typing import Any

from engine.model import (
    enums,
    events,
    exits,
    flow,
    forecast,
    lots,
    market,
    orders,
    portfolio,
    portfolio_report,
    rebalance,
    risk,
    vitals,
)
from engine.model.flow import FlowBatch
from engine.model.quote_batch import QuoteBatch


class DecodeError(ValueError):
    """A message that does not match the model; the text names the type and field."""


def _registry() -> dict[str, type[Any]]:
    out: dict[str, type[Any]] = {}
    for module in (
        market,
        orders,
        exits,
        portfolio,
        risk,
        lots,
        rebalance,
        portfolio_report,
        events,
        vitals,
        forecast,
        flow,
    ):
        for name in dir(module):
            obj = getattr(module, name)
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                out[name] = obj
    return out


_TYPES = _registry()
_ = enums  # enums are reached through the type hints


def to_jsonable(value: Any) -> Any:
    """Turn a model value into JSON-compatible Python data."""
    if type(value) is market.Quote:  # a market event carries hundreds: one literal, no field walk
        return _quote_jsonable(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list | QuoteBatch | FlowBatch):  # a step's columns go out as objects
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _quote_jsonable(q: market.Quote) -> dict[str, Any]:
    """``to_jsonable`` of a Quote, written out (the same object the generic walk builds)."""
    return {
        "type": "Quote",
        "symbol": q.symbol,
        "ts": q.ts.isoformat(),
        "bid": q.bid,
        "ask": q.ask,
        "last": q.last,
        "bid_size": q.bid_size,
        "ask_size": q.ask_size,
        "last_size": q.last_size,
        "volume": q.volume,
    }


_QUOTE_FIELDS = tuple(f.name for f in dataclasses.fields(market.Quote))
_QUOTE_KEYS = frozenset(("type", *_QUOTE_FIELDS))
_NUMBER = (int, float)


def _fast_quote(data: dict[str, Any]) -> market.Quote | None:
    """A well-formed Quote object decoded without the generic walk (a market event carries
    hundreds); None for anything the generic path must judge (and name the fault of)."""
    if data.keys() != _QUOTE_KEYS:
        return None
    symbol, ts = data["symbol"], data["ts"]
    numbers = [data[k] for k in _QUOTE_FIELDS[2:]]
    if not isinstance(symbol, str) or not isinstance(ts, str):
        return None
    if any(type(v) not in _NUMBER for v in numbers):  # bools and strings: the generic path's error
        return None
    try:
        stamp = datetime.fromisoformat(ts)
        return market.Quote(symbol, stamp, *(float(v) for v in numbers))
    except (ValueError, OverflowError):
        return None


_FLOW_KEYS = frozenset(("type", *(f.name for f in dataclasses.fields(flow.FlowReading))))
_FLOW_NUMBERS = ("ofi", "signed_volume")
_FLOW_OPTIONAL = ("quote_imbalance", "realized_spread", "realized_vol", "depth_imbalance")


def _fast_flow(data: dict[str, Any]) -> flow.FlowReading | None:
    """A well-formed FlowReading decoded without the generic walk (a market event carries one a
    symbol: at 500 symbols the walk was half the console's time); None for anything the generic
    path must judge (and name the fault of)."""
    if data.keys() != _FLOW_KEYS:
        return None
    symbol, updates, sign, invented = (
        data["symbol"],
        data["updates"],
        data["last_sign"],
        data["sizes_invented"],
    )
    if (
        not isinstance(symbol, str)
        or type(updates) is not int
        or type(sign) is not int
        or type(invented) is not bool
    ):
        return None
    if any(type(data[k]) not in _NUMBER for k in _FLOW_NUMBERS):
        return None
    if any(data[k] is not None and type(data[k]) not in _NUMBER for k in _FLOW_OPTIONAL):
        return None
    try:
        optional = {k: None if data[k] is None else float(data[k]) for k in _FLOW_OPTIONAL}
        return flow.FlowReading(
            symbol=symbol,
            updates=updates,
            ofi=float(data["ofi"]),
            last_sign=sign,
            signed_volume=float(data["signed_volume"]),
            sizes_invented=invented,
            **optional,
        )
    except OverflowError:
        return None


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=True)


def loads(text: str | bytes) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    return from_jsonable(data)


def from_jsonable(data: Any) -> Any:
    """Rebuild a tagged dataclass (recursively) from ``to_jsonable`` output."""
    if not isinstance(data, dict) or "type" not in data:
        raise DecodeError("expected an object with a 'type' field")
    return _decode_dataclass(data)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _decode_dataclass(data: dict[str, Any]) -> Any:
    name = data.get("type")
    if name == "Quote":
        quote = _fast_quote(data)
        if quote is not None:
            return quote
    elif name == "FlowReading":
        reading = _fast_flow(data)
        if reading is not None:
            return reading
    cls = _TYPES.get(str(name))
    if cls is None:
        raise DecodeError(f"unknown message type {name!r}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{name}: missing field {f.name!r}")
            continue
        try:
            kwargs[f.name] = _decode(hints[f.name], data[f.name])
        except DecodeError as exc:
            raise DecodeError(f"{name}.{f.name}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"{name}.{f.name}: {exc}") from None
    return cls(**kwargs)


def _decode(tp: Any, value: Any) -> Any:
    tp = _sequence_as_tuple(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(tp), value)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise DecodeError(f"expected a list, got {type(value).__name__}")
        if not args or (len(args) == 2 and args[1] is Ellipsis):  # tuple[X, ...]: any length
            item_tp = args[0] if args else Any
            return tuple(_decode(item_tp, v) for v in value)
        if len(value) != len(args):  # tuple[X, Y]: fixed length, one type per place
            raise DecodeError(f"expected {len(args)} items, got {len(value)}")
        return tuple(_decode(t, v) for t, v in zip(args, value, strict=True))
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise DecodeError(f"expected an object, got {type(value).__name__}")
        return {k: _decode(vt, v) for k, v in value.items()}
    if tp is Any or not isinstance(tp, type):
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise DecodeError(f"expected {tp.__name__} object")
        return _decode_dataclass(value)
    if issubclass(tp, Enum):
        return tp(value)
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    return _decode_scalar(tp, value)


def _sequence_as_tuple(tp: Any) -> Any:
    """``Sequence[X]`` (a step's quotes or readings: columns in the engine) decodes as ``tuple[X, ...]``."""
    if typing.get_origin(tp) is collections.abc.Sequence:
        return types.GenericAlias(tuple, (typing.get_args(tp)[0], ...))
    return tp


def _decode_union(args: tuple[Any, ...], value: Any) -> Any:
    """The first member of the union that accepts the value; every member's complaint otherwise."""
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, value)
        except (DecodeError, TypeError, ValueError) as exc:
            errors.append(str(exc))
    raise DecodeError("; ".join(errors) or f"cannot decode {value!r}")


def _decode_scalar(tp: type, value: Any) -> Any:
    """JSON scalars, strictly: a bool is not a number and a number is not a string."""
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise DecodeError(f"a number out of range ({len(str(value))} digits)") from None
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(f"expected true/false, got {value!r}")
        return value
    if tp is str and not isinstance(value, str):
        raise DecodeError(f"expected a string, got {value!r}")
    return value
