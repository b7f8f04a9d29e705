"""The template scoreboard in words and columns: one copy for ``onetap report cards`` and the
scoreboard screen, so both show the same figures the same way. Model types only (no engine door).
"""

from __future__ import annotations

from typing import Any

from engine.model.codec import to_jsonable
from engine.model.forecast import CardReport, DriftTest, ForecastOutcome, Scoreboard, TemplateScore

HEADER = (
    f"{'template':<14} {'n':>4} {'open':>4} {'hit rate [95%]':>18} {'conf':>5} "
    f"{'return [95%]':>24} {'exp':>7} {'cost bps [95%]':>19} {'exp':>6} {'rt':>6} {'>risk':>5}  drift"
)
"""Columns: closed trades, pending ones, realized hit rate (Wilson 95%), mean confidence, mean
realized return before commissions (t 95%), mean expected return, mean entry cost (t 95%), mean
expected cost, realized round trip (bps of capital), trades that lost more than max risk."""


def pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if signed else f"{value:.0%}"


def bps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def interval(low: float | None, high: float | None, fmt: Any) -> str:
    return "" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


def test_text(test: DriftTest | None) -> str:
    if test is None:
        return ""
    name = "z" if test.name == "hits" else "t"
    return f"{test.name} {name} {test.statistic:+.2f} p {test.p_value:.3f}"


def drift_text(row: TemplateScore, min_trades: int) -> str:
    """ "DRIFT: hits z -3.10 p 0.002", "ok", or why it is not tested yet."""
    if row.hit_test is None and row.return_test is None:
        return f"untested (<{min_trades})"
    tests = [t for t in (row.hit_test, row.return_test) if t is not None]
    flagged = [test_text(t) for t in tests if t.significant]
    return (
        "DRIFT: " + "; ".join(flagged) if flagged else "ok (" + "; ".join(test_text(t) for t in tests) + ")"
    )


def drift_flag(row: TemplateScore, min_trades: int) -> str:
    """The drift column in one short word: DRIFT, ok, or <20 (not tested yet)."""
    if row.hit_test is None and row.return_test is None:
        return f"<{min_trades}"
    return "DRIFT" if row.drifting else "ok"


def tests_line(row: TemplateScore) -> str:
    """The drift tests' figures of one template ("" when not tested)."""
    tests = [t for t in (row.hit_test, row.return_test) if t is not None]
    if not tests:
        return ""
    return f"{row.template}: " + "; ".join(test_text(t) + (" DRIFT" if t.significant else "") for t in tests)


def row_line(row: TemplateScore, min_trades: int) -> str:
    hit = f"{pct(row.hit_rate)} {interval(row.hit_low, row.hit_high, pct)}".strip()
    ret = f"{pct(row.mean_return, True)} {interval(row.return_low, row.return_high, lambda v: pct(v, True))}"
    cost = f"{bps(row.cost_bps)} {interval(row.cost_low, row.cost_high, bps)}".strip()
    return (
        f"{row.template[:14]:<14} {row.n:>4} {row.open:>4} {hit:>18} {pct(row.mean_confidence):>5} "
        f"{ret.strip():>24} {pct(row.mean_expected_return, True):>7} {cost:>19} "
        f"{bps(row.expected_cost_bps):>6} {bps(row.round_trip_bps):>6} {row.breaches:>5}  "
        f"{drift_text(row, min_trades)}"
    )


def outcome_line(o: ForecastOutcome) -> str:
    verdict = "void" if o.status.value == "void" else ("win" if o.hit else "loss")
    return (
        f"{o.closed_at:%Y-%m-%d} {o.execution_id:<14} {o.card_id[:34]:<34} {verdict:<4} "
        f"conf {o.confidence:.0%}  return {o.realized_return:+.2%} vs {o.expected_return:+.2%}  "
        f"net {o.net_return:+.2%}  cost {o.entry_cost:,.2f} vs {o.expected_cost:,.2f}  "
        f"loss/max risk {_risk(o)}"
    )


def _risk(o: ForecastOutcome) -> str:
    loss = o.commission - o.gross_pnl
    if o.max_risk <= 0:
        return "-"
    return f"{max(loss, 0.0) / o.max_risk:.0%}"


def board_lines(board: Scoreboard) -> list[str]:
    """The scoreboard as text (header, one line a template, the notes)."""
    lines = [HEADER]
    lines += [row_line(row, board.min_trades) for row in board.rows]
    if not board.rows:
        lines.append("  (no executed card has closed yet)")
    lines += [f"note: {note}" for note in board.notes]
    return lines


def report_lines(report: CardReport, since: str) -> list[str]:
    closed = sum(r.n for r in report.scoreboard.rows)
    head = (
        f"cards closed since {since}: {closed} scored, {len(report.open_trades)} open (pending, not counted)"
    )
    lines = [head, "", *board_lines(report.scoreboard)]
    if report.outcomes:
        lines += ["", "trades (forecast as executed vs realized):"]
        lines += ["  " + outcome_line(o) for o in report.outcomes]
    return lines


def report_records(report: CardReport) -> list[dict[str, Any]]:
    """One JSON-ready object a line: each template's row, each outcome, each open trade."""
    out: list[dict[str, Any]] = []
    for row in report.scoreboard.rows:
        data = to_jsonable(row)
        data["type"] = "template"
        data["drifting"] = row.drifting
        out.append(data)
    for o in report.outcomes:
        data = to_jsonable(o)
        data.update(
            type="outcome",
            hit=o.hit,
            realized_return=o.realized_return,
            net_return=o.net_return,
            entry_cost=o.entry_cost,
            realized_cost=o.realized_cost,
            breached=o.breached,
        )
        out.append(data)
    for t in report.open_trades:
        data = to_jsonable(t)
        data["type"] = "open"
        out.append(data)
    return out
