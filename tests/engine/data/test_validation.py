from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.validation import DataIssue, IssueKind, ValidationReport, validate_bars

from .conftest import bars_frame

SESSIONS = calendar.sessions_index(date(2012, 1, 1), date(2012, 12, 31))


def test_issue_line_format() -> None:
    issue = DataIssue(
        "data/x.csv",
        14,
        "AAPL",
        date(2012, 3, 5),
        IssueKind.HIGH_BELOW_LOW,
        "high 10.0, low 11.0",
        "error",
        True,
    )
    assert str(issue) == "data/x.csv:14: AAPL 2012-03-05: high < low (high 10.0, low 11.0); row excluded"
    gap = DataIssue(
        "data/x.csv",
        None,
        "AAPL",
        date(2012, 3, 5),
        IssueKind.GAP,
        "1 session without a bar: 2012-03-05",
        "warning",
    )
    assert str(gap) == "data/x.csv: AAPL 2012-03-05: calendar gap (1 session without a bar: 2012-03-05)"


def test_clean_frame_shape_and_no_issues() -> None:
    df = bars_frame(["2012-03-02", "2012-03-05"], [1.0, 1.1], [1.2, 1.3], [0.9, 1.0], [1.1, 1.2], [10, 20])
    clean, issues = validate_bars(df, "A", "a.csv", SESSIONS)
    assert issues == []
    assert clean.index.name == "date" and list(clean.columns) == ["open", "high", "low", "close", "volume"]
    assert clean["volume"].dtype == np.float64


def test_jump_is_a_warning_and_kept() -> None:
    df = bars_frame(
        ["2012-03-01", "2012-03-02", "2012-03-05"],
        [10, 10, 14],
        [10, 14, 14],
        [10, 10, 7],
        [10, 14, 7],
        [1, 1, 1],
    )
    clean, issues = validate_bars(df, "J", "j.csv", SESSIONS, jump_threshold=0.3)
    assert len(clean) == 3
    assert [str(i) for i in issues] == [
        "j.csv:3: J 2012-03-02: price jump (close 14.0 vs 10.0 on 2012-03-01: +40.0%)",
        "j.csv:4: J 2012-03-05: price jump (close 7.0 vs 14.0 on 2012-03-02: -50.0%)",
    ]
    assert all(i.severity == "warning" and not i.excluded for i in issues)
    _, none = validate_bars(df, "J", "j.csv", SESSIONS, jump_threshold=0.6)
    assert none == []


def test_gap_runs_are_one_issue_each_and_exclude_nothing() -> None:
    days = ["2012-06-01", "2012-06-04", "2012-06-08", "2012-06-11", "2012-06-13"]
    df = bars_frame(days, [1.0] * 5, [1.0] * 5, [1.0] * 5, [1.0] * 5, [0.0] * 5)
    clean, issues = validate_bars(df, "G", "g.csv", SESSIONS)
    assert len(clean) == 5
    assert [(i.kind, i.day, i.detail) for i in issues] == [
        (IssueKind.GAP, date(2012, 6, 5), "3 sessions without a bar: 2012-06-05..2012-06-07"),
        (IssueKind.GAP, date(2012, 6, 12), "1 session without a bar: 2012-06-12"),
    ]
    # Around a holiday nothing is missing: 2012-07-04 is not a session.
    df = bars_frame(["2012-07-03", "2012-07-05"], [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, [0.0] * 2)
    assert validate_bars(df, "G", "g.csv", SESSIONS)[1] == []


def test_holiday_bar_is_excluded_and_identical_duplicate_named() -> None:
    df = bars_frame(
        ["2012-07-03", "2012-07-04", "2012-07-05", "2012-07-05"],
        [1.0] * 4,
        [2.0] * 4,
        [1.0] * 4,
        [1.5] * 4,
        [5.0] * 4,
    )
    clean, issues = validate_bars(df, "H", "h.csv", SESSIONS)
    assert [str(i) for i in issues] == [
        "h.csv:3: H 2012-07-04: not a trading session (exchange holiday or closure); row excluded",
        "h.csv:5: H 2012-07-05: duplicate date (same values as line 4); row excluded",
    ]
    assert [ts.date().isoformat() for ts in clean.index] == ["2012-07-03", "2012-07-05"]


def test_negative_volume_and_open_outside() -> None:
    df = bars_frame(["2012-03-01", "2012-03-02"], [1.0, 3.0], [2.0, 2.0], [1.0, 1.0], [1.5, 1.5], [-5.0, 1.0])
    clean, issues = validate_bars(df, "V", "v.csv", None)
    assert [str(i) for i in issues] == [
        "v.csv:2: V 2012-03-01: negative volume (volume -5.0); row excluded",
        "v.csv:3: V 2012-03-02: open outside [low, high] (open 3.0, low 1.0, high 2.0); row excluded",
    ]
    assert clean.empty


def test_date_index_input_without_lines() -> None:
    df = pd.DataFrame(
        {
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [1.0, 0.0],
            "close": [1.0, 1.0],
            "volume": [1.0, 1.0],
        },
        index=pd.to_datetime(["2012-03-02", "2012-03-01"]),
    )
    clean, issues = validate_bars(df, "N", "n.parquet", SESSIONS)
    assert [str(i) for i in issues] == ["n.parquet: N 2012-03-01: non-positive price (low 0.0); row excluded"]
    assert len(clean) == 1


def test_dates_outside_the_calendar_are_not_judged() -> None:
    df = bars_frame(["1985-01-05", "1985-01-07"], [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2)
    clean, issues = validate_bars(
        df, "O", "o.csv", calendar.sessions_array(date(1990, 1, 1), date(2030, 12, 31))
    )
    assert issues == [] and len(clean) == 2


def test_report_counts_and_summary() -> None:
    report = ValidationReport()
    issue = DataIssue("s", 2, "A", None, IssueKind.MISSING, "close", "error", True)
    warn = DataIssue("s", 3, "A", date(2012, 3, 1), IssueKind.JUMP, "x", "warning")
    report.record("A", 10, 1, [issue, warn])
    report.record("B", 5, 0, [])
    assert report.counts == {"missing value": 1, "price jump": 1}
    assert report.errors == [issue] and report.warnings == [warn]
    assert report.summary() == "\n".join(
        [
            "2 symbols, 15 rows kept, 1 excluded; 1 errors, 1 warnings",
            "  A: 10 kept, 1 excluded",
            "  B: 5 kept, 0 excluded",
            "  missing value: 1",
            "  price jump: 1",
        ]
    )
