"""Corporate actions from CSV: parsing, error messages, and date-ordered application to the lot book."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.model.enums import Side
from engine.model.lots import ActionType, CorporateAction, TaggedFill
from engine.model.orders import Fill
from engine.portfolio.corporate_actions import apply_actions, load_actions, parse_ratio, replay
from engine.portfolio.lots import LotBook


def tagged(exec_id: str, side: Side, qty: float, price: float, day: date, strategy: str = "") -> TaggedFill:
    ts = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)
    return TaggedFill(Fill(exec_id, f"c-{exec_id}", "XYZ", side, qty, price, 0.0, ts), strategy=strategy)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "actions.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "ratio"), [("2:1", 2.0), ("3:2", 1.5), ("1:10", 0.1), ("2", 2.0), (" 1.5 ", 1.5)]
)
def test_parse_ratio(text: str, ratio: float) -> None:
    assert parse_ratio(text) == pytest.approx(ratio)


def test_load_sorts_by_date_and_reads_both_split_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "date,symbol,type,value,pay_date\n"
        "2022-06-01,xyz,SPLIT,3:2,\n"
        "2022-05-02,XYZ,dividend,0.25,2022-05-20\n"
        "\n"
        "2022-03-01,XYZ,split,2,\n",
    )
    actions = load_actions(path)
    assert actions == [
        CorporateAction("XYZ", ActionType.SPLIT, date(2022, 3, 1), 2.0),
        CorporateAction("XYZ", ActionType.DIVIDEND, date(2022, 5, 2), 0.25, date(2022, 5, 20)),
        CorporateAction("XYZ", ActionType.SPLIT, date(2022, 6, 1), 1.5),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("2022-13-01,XYZ,split,2:1\n", r"actions\.csv:2: field 'date': '2022-13-01' is not a date"),
        ("2022-03-01,XYZ,merger,2\n", r"actions\.csv:2: field 'type': 'merger' is not split or dividend"),
        ("2022-03-01,XYZ,split,2:0\n", r"actions\.csv:2: field 'value': '2:0' must be positive"),
        ("2022-03-01,XYZ,split,two\n", r"actions\.csv:2: field 'value': 'two' is not a number"),
        ("2022-03-01,XYZ,dividend,-1\n", r"actions\.csv:2: field 'value': '-1' must be positive"),
        ("2022-03-01,,dividend,1\n", r"actions\.csv:2: field 'symbol': empty"),
        ("2022-03-01,XYZ,split,2,1\n", r"actions\.csv:2: more fields than the header has"),
        (
            "2022-03-01,XYZ,split,2\n2022-03-01,XYZ,split,2\n",
            r"actions\.csv:3: field 'date': split of XYZ on 2022-03-01 is already on line 2",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "date,symbol,type,value\n" + body)
    with pytest.raises(ValueError, match=message):
        load_actions(path)


def test_missing_header_column_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"actions\.csv:1: header is missing column value"):
        load_actions(write(tmp_path, "date,symbol,type\n2022-03-01,XYZ,split\n"))
    with pytest.raises(ValueError, match=r"nope\.csv: cannot read"):
        load_actions(tmp_path / "nope.csv")


def test_pay_date_before_ex_date_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "date,symbol,type,value,pay_date\n2022-03-01,XYZ,dividend,1,2022-02-01\n")
    with pytest.raises(ValueError, match=r"actions\.csv:2: field 'pay_date': .* before its ex-date"):
        load_actions(path)


def test_replay_applies_each_action_before_its_ex_date_fills(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "date,symbol,type,value\n2022-06-01,XYZ,split,3:2\n2022-03-01,XYZ,split,2:1\n2022-04-01,XYZ,dividend,0.10\n",
    )
    fills = [
        tagged("B1", Side.BUY, 100, 90.0, date(2022, 1, 3), strategy="a"),
        # bought on the dividend's ex-date: not a holder of record, gets nothing
        tagged("B2", Side.BUY, 10, 46.0, date(2022, 4, 1), strategy="b"),
        tagged("S1", Side.SELL, 150, 40.0, date(2022, 8, 1), strategy="a"),
    ]
    book = replay(fills, load_actions(path))
    # after 2:1: lot B1 200 @ 45; dividend 200 x 0.10 = 20 to strategy a only
    (credit,) = book.dividend_credits
    assert (credit.lot_id, credit.strategy) == ("B1", "a")
    assert credit.amount == pytest.approx(20.0)
    # after 3:2: B1 300 @ 30, B2 15 @ 46 / 1.5; the sale of 150 at 40 (FIFO, own strategy): 150 x 10 = 1,500
    (closed,) = book.realized_lots
    assert closed.gain == pytest.approx(1500.0)
    lots = {lot.lot_id: lot for lot in book.open_lots()}
    assert lots["B1"].quantity == pytest.approx(150.0)
    assert lots["B2"].quantity == pytest.approx(15.0)
    assert lots["B2"].basis == pytest.approx(46.0 / 1.5)


def test_apply_actions_in_date_order_on_a_held_book() -> None:
    book = LotBook()
    book.apply_fill(tagged("B", Side.BUY, 10, 100.0, date(2022, 1, 3)).fill)
    actions = [
        CorporateAction("XYZ", ActionType.DIVIDEND, date(2022, 5, 2), 1.0),
        CorporateAction("XYZ", ActionType.SPLIT, date(2022, 3, 1), 2.0),
        CorporateAction("XYZ", ActionType.SPLIT, date(2023, 3, 1), 2.0),
    ]
    assert apply_actions(book, actions, through=date(2022, 12, 31)) == 2
    # the split came first: 20 shares received the 1.00 dividend, 20 (not 10)
    assert book.dividend_credits[0].amount == pytest.approx(20.0)
    assert book.quantity("XYZ") == pytest.approx(20.0)
