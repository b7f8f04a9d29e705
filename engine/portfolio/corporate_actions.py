"""User-supplied corporate actions: read from CSV, applied to a LotBook in date order.

The file is ``date,symbol,type,value`` with an optional ``pay_date`` column; ``type`` is
``split`` or ``dividend`` (any case); a split's value is new shares per old share, written
``2`` or ``1.5`` or as a ratio ``2:1`` / ``3:2`` / ``1:10`` (reverse); a dividend's value is cash per
share. Every error names the file, the line and the field, because the user wrote the file and
has to find the mistake in it.

Timing: a split takes effect before the ex-date's trading, and a dividend goes to the holders
at the close of the day before the ex-date, so ``replay`` applies each action before the fills
of its ex-date.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from engine.model.lots import ActionType, CorporateAction, TaggedFill
from engine.portfolio.lots import LotBook

REQUIRED_COLUMNS = ("date", "symbol", "type", "value")


def parse_ratio(text: str) -> float:
    """``"2:1"`` -> 2.0, ``"3:2"`` -> 1.5, ``"1:10"`` -> 0.1, ``"2"`` -> 2.0; ValueError otherwise."""
    raw = text.strip()
    if ":" in raw:
        new, _, old = raw.partition(":")
        ratio = _positive(new, raw) / _positive(old, raw)
    else:
        ratio = _positive(raw, raw)
    return ratio


def _positive(part: str, whole: str) -> float:
    try:
        value = float(part.strip())
    except ValueError:
        raise ValueError(f"{whole!r} is not a number or a ratio like 2:1") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{whole!r} must be positive")
    return value


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD") from None


def _parse_row(row: dict[str, str | None]) -> CorporateAction:
    """One row to an action; ValueError carries ``field: message`` for the caller to locate."""
    values = {key: (row.get(key) or "").strip() for key in (*REQUIRED_COLUMNS, "pay_date")}
    for key in REQUIRED_COLUMNS:
        if not values[key]:
            raise ValueError(f"field {key!r}: empty")
    try:
        ex_date = _parse_date(values["date"])
    except ValueError as exc:
        raise ValueError(f"field 'date': {exc}") from None
    kind_text = values["type"].lower()
    try:
        kind = ActionType(kind_text)
    except ValueError:
        raise ValueError(f"field 'type': {values['type']!r} is not split or dividend") from None
    try:
        if kind is ActionType.SPLIT:
            value = parse_ratio(values["value"])
        else:
            value = _positive(values["value"], values["value"])
    except ValueError as exc:
        raise ValueError(f"field 'value': {exc}") from None
    pay_date = None
    if values["pay_date"]:
        try:
            pay_date = _parse_date(values["pay_date"])
        except ValueError as exc:
            raise ValueError(f"field 'pay_date': {exc}") from None
    try:
        return CorporateAction(values["symbol"].upper(), kind, ex_date, value, pay_date)
    except ValueError as exc:
        raise ValueError(f"field 'pay_date': {exc}") from None


def load_actions(path: Path) -> list[CorporateAction]:
    """Read a corporate-actions CSV, sorted by ex-date; ValueError names file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read corporate actions ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"{path}:1: header is missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(expected {','.join(REQUIRED_COLUMNS)})"
        )
    reader.fieldnames = header
    actions: list[CorporateAction] = []
    seen: dict[tuple[str, ActionType, date], int] = {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:
            raise ValueError(f"{path}:{line}: more fields than the header has")
        try:
            action = _parse_row(row)
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: {exc}") from None
        key = (action.symbol, action.kind, action.ex_date)
        if key in seen:
            raise ValueError(
                f"{path}:{line}: field 'date': {action.kind} of {action.symbol} on {action.ex_date} "
                f"is already on line {seen[key]}"
            )
        seen[key] = line
        actions.append(action)
    return sort_actions(actions)


def sort_actions(actions: Iterable[CorporateAction]) -> list[CorporateAction]:
    """Ex-date order; on one day splits before dividends (a dividend declared per post-split share)."""
    return sorted(actions, key=lambda a: (a.ex_date, a.kind is not ActionType.SPLIT, a.symbol))


def apply_action(book: LotBook, action: CorporateAction) -> None:
    if action.kind is ActionType.SPLIT:
        book.apply_split(action.symbol, action.value, action.ex_date)
    else:
        book.apply_dividend(action.symbol, action.value, action.ex_date, action.pay_date)


def apply_actions(book: LotBook, actions: Iterable[CorporateAction], *, through: date | None = None) -> int:
    """Apply actions in ex-date order (those after ``through`` are skipped); returns how many applied.

    Use it on a book already holding the positions of record; to fold fills and actions together,
    ``replay`` interleaves them by date.
    """
    count = 0
    for action in sort_actions(actions):
        if through is not None and action.ex_date > through:
            break
        apply_action(book, action)
        count += 1
    return count


def replay(
    fills: Sequence[TaggedFill],
    actions: Iterable[CorporateAction] = (),
    *,
    book: LotBook | None = None,
    through: date | None = None,
) -> LotBook:
    """Fold fills (in time order) and actions into a book: each action before its ex-date's fills.

    Fills after ``through`` are left out; actions up to ``through`` (all of them when None) are
    applied even when no fill follows them.
    """
    book = book if book is not None else LotBook()
    pending = sort_actions(actions)
    i = 0
    for tagged in sorted(fills, key=lambda f: f.fill.ts):
        day = tagged.day
        if through is not None and day > through:
            break
        while i < len(pending) and pending[i].ex_date <= day:
            apply_action(book, pending[i])
            i += 1
        book.apply_fill(tagged.fill, strategy=tagged.strategy, account=tagged.account, lots=tagged.lots)
    while i < len(pending) and (through is None or pending[i].ex_date <= through):
        apply_action(book, pending[i])
        i += 1
    return book
