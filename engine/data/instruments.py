"""The user's instruments file: what each symbol of their own market is (``[data] instruments``).

TOML, one table per symbol::

    [N225]
    asset_class = "index"      # stock, etf, index, commodity, fx, crypto, future
    exchange = "XTKS"          # a MIC; its exchange_calendars calendar unless `calendar` says otherwise
    currency = "JPY"

    [EURUSD]
    asset_class = "fx"         # calendar 24/5, pip 0.0001 (0.01 for a JPY pair) by default

or CSV with a header naming the same keys (``symbol`` required, every other column optional; an
empty cell takes the default). Keys: asset_class, exchange, calendar, currency, tick_size,
lot_size, min_lot, multiplier, pip_size, has_volume, tradable, name, sector.

A symbol the file does not name is a US stock on XNYS (the shipped symbols keep their shipped
description). Every mistake is one line naming the file, the line and the key.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path

from engine.data import calendar
from engine.data.loader import DataError, display_path
from engine.model.instruments import ASSET_CLASS_NAMES, InstrumentSpec

KEYS: tuple[str, ...] = (
    "asset_class",
    "exchange",
    "calendar",
    "currency",
    "tick_size",
    "lot_size",
    "min_lot",
    "multiplier",
    "pip_size",
    "has_volume",
    "tradable",
    "name",
    "sector",
)
_NUMBERS = frozenset({"tick_size", "lot_size", "min_lot", "multiplier", "pip_size"})
_FLAGS = frozenset({"has_volume", "tradable"})
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


class InstrumentsError(DataError):
    """An instruments file that cannot be used; the message names the file, the line and the key."""


def load_instruments(path: Path) -> dict[str, InstrumentSpec]:
    """Every instrument the file describes, by symbol; InstrumentsError on the first mistake."""
    shown = display_path(path)
    if not path.is_file():
        raise InstrumentsError(f"{shown}: no such instruments file")
    if path.suffix.lower() == ".toml":
        return _from_toml(path, shown)
    if path.suffix.lower() == ".csv":
        return _from_csv(path, shown)
    raise InstrumentsError(f"{shown}: unsupported instruments file (expected .toml or .csv)")


def spec_from_fields(symbol: str, fields: Mapping[str, object], where: str) -> InstrumentSpec:
    """An ``InstrumentSpec`` from a user's key/values; ``where`` ("file:line") opens every error."""
    symbol = symbol.strip().upper()
    if not symbol or " " in symbol:
        raise InstrumentsError(f"{where}: symbol {symbol!r} is empty or has a space")
    unknown = [k for k in fields if k not in KEYS]
    if unknown:
        raise InstrumentsError(f"{where}: {symbol}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    values: dict[str, object] = {}
    for key, raw in fields.items():
        if raw is None or raw == "":
            continue
        values[key] = _value(symbol, key, raw, where)
    asset_name = str(values.pop("asset_class", "stock"))
    asset = ASSET_CLASS_NAMES[asset_name]
    if "calendar" in values or "exchange" in values:
        code = str(values.get("calendar") or values.get("exchange"))
        try:
            values["calendar"] = calendar.for_code(code).code
        except ValueError as exc:
            key = "calendar" if "calendar" in values else "exchange"
            hint = "" if key == "calendar" else " (name its calendar with `calendar = ...`)"
            raise InstrumentsError(f"{where}: {symbol}: {key}: {exc}{hint}") from None
    try:
        return InstrumentSpec.default(symbol, asset, **values)
    except ValueError as exc:
        raise InstrumentsError(f"{where}: {exc}") from None


def _value(symbol: str, key: str, raw: object, where: str) -> object:
    if key == "asset_class":
        name = str(raw).strip().lower()
        if name not in ASSET_CLASS_NAMES:
            raise InstrumentsError(
                f"{where}: {symbol}: asset_class {raw!r} is not one of {', '.join(ASSET_CLASS_NAMES)}"
            )
        return name
    if key in _NUMBERS:
        try:
            number = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InstrumentsError(f"{where}: {symbol}: {key} {raw!r} is not a number") from None
        if not math.isfinite(number):
            raise InstrumentsError(f"{where}: {symbol}: {key} {raw!r} is not a finite number")
        return number
    if key in _FLAGS:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise InstrumentsError(f"{where}: {symbol}: {key} {raw!r} is not true or false")
    text = str(raw).strip()
    return text.upper() if key in ("exchange", "currency") else text


def _from_toml(path: Path, shown: str) -> dict[str, InstrumentSpec]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstrumentsError(f"{shown}: not valid TOML ({exc})") from None
    lines = text.splitlines()
    out: dict[str, InstrumentSpec] = {}
    for symbol, table in data.items():
        line = next(
            (n for n, ln in enumerate(lines, 1) if ln.strip().strip("[]\"' ").upper() == symbol.upper()), None
        )
        where = f"{shown}:{line}" if line is not None else shown
        if not isinstance(table, dict):
            raise InstrumentsError(f"{where}: {symbol!r} must be a table ([{symbol}] with its keys)")
        spec = spec_from_fields(symbol, table, where)
        if spec.symbol in out:
            raise InstrumentsError(f"{where}: {spec.symbol} is described twice")
        out[spec.symbol] = spec
    return out


def _from_csv(path: Path, shown: str) -> dict[str, InstrumentSpec]:
    out: dict[str, InstrumentSpec] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in reader.fieldnames or ()]
        if "symbol" not in header:
            raise InstrumentsError(f"{shown}:1: missing column 'symbol' (and any of {', '.join(KEYS)})")
        reader.fieldnames = header
        for row in reader:
            where = f"{shown}:{reader.line_num}"
            symbol = (row.pop("symbol") or "").strip()
            if not symbol and not any((v or "").strip() for v in row.values()):
                continue
            spec = spec_from_fields(symbol, {k: (v or "").strip() for k, v in row.items()}, where)
            if spec.symbol in out:
                raise InstrumentsError(f"{where}: {spec.symbol} is described twice")
            out[spec.symbol] = spec
    return out
