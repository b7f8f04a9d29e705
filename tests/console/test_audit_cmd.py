"""``onetap audit verify|export`` as a user runs them, on a real database file.

The cases an auditor depends on run ``python -m console.cli`` as a subprocess; the variations
call ``console.cli.main`` in process (same parser, same code, a second instead of a minute).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console import cli
from engine.store import Store
from engine.store.audit import GENESIS_HASH, anchor_path, entry_hash

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
N = 20


def onetap(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "onetap.db"
    with Store.open(path) as store:
        for i in range(1, N + 1):
            store.append_audit(
                T0 + timedelta(seconds=i),
                "alice" if i % 2 else "engine",
                "hotkey" if i % 2 else "engine",
                "execute_card" if i % 2 else "fill",
                {"card_id": f"c-{i}", "qty": i * 1.5, "note": "ünïcode ✓"},
            )
    return path


def sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(statement)
    conn.close()


def verify(db: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return onetap("audit", "verify", "--database", str(db), tmp_path=tmp_path)


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``onetap ARGS`` in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- verify
def test_an_intact_log_verifies(db: Path, tmp_path: Path) -> None:
    result = verify(db, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"audit: {N} entries, chain intact, anchor matches\n"


def test_the_top_level_database_option_works_too(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "--database", str(db), "audit", "verify")
    assert code == 0 and f"{N} entries" in out


def test_the_database_from_the_config_is_used(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "onetap.toml"
    cfg.write_text(f'[store]\ndatabase = "{db}"\n')
    code, out, _ = main(capsys, "--config", str(cfg), "audit", "verify")
    assert code == 0 and f"{N} entries" in out


def test_one_changed_payload_byte_names_the_entry(db: Path, tmp_path: Path) -> None:
    sql(db, "UPDATE audit_events SET payload_json = replace(payload_json, 'c-17', 'c-18') WHERE seq = 17")
    result = verify(db, tmp_path)
    assert result.returncode == 1
    assert result.stdout == "audit: entry 17 (seq 17) is altered: its hash does not match its content\n"


def test_a_payload_rewritten_in_another_spelling_is_caught(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(db, "UPDATE audit_events SET payload_json = replace(payload_json, ':', ': ') WHERE seq = 4")
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1
    assert out == "audit: entry 4 (seq 4) is altered: its payload is not as it was written\n"


def test_a_changed_actor_is_caught(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 9")
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1 and out.startswith("audit: entry 9 (seq 9) is altered")


def test_a_relinked_chain_is_caught_where_it_was_broken(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql(db, "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE seq = 6")
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1 and out.startswith("audit: entry 6 (seq 6) is altered")


def test_a_deleted_entry_is_caught(db: Path, tmp_path: Path) -> None:
    sql(db, "DELETE FROM audit_events WHERE seq = 10")
    result = verify(db, tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("audit: entry 10 (seq 10) is missing: the log jumps from seq 9 to seq 11")


def test_a_deleted_first_entry_is_caught(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql(db, "DELETE FROM audit_events WHERE seq = 1")
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1
    assert (
        out
        == "audit: entry 1 (seq 1) is missing: the log jumps from seq 0 to seq 2, so entries were deleted\n"
    )


def test_a_cut_tail_is_caught_by_the_anchor(db: Path, tmp_path: Path) -> None:
    sql(db, f"DELETE FROM audit_events WHERE seq > {N - 3}")
    result = verify(db, tmp_path)
    assert result.returncode == 1
    line = result.stdout
    assert line.startswith(f"audit: entry {N - 2} (seq {N - 2}) and after are gone")
    assert f"the anchor records {N} entries" in line and "the tail was cut" in line


def test_a_missing_anchor_cannot_prove_the_tail(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anchor_path(db).unlink()
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1
    assert out.startswith(f"audit: {N} entries, chain intact, but there is no anchor file")


def test_a_damaged_anchor_fails(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anchor_path(db).write_text("garbage")
    code, out, _ = main(capsys, "audit", "verify", "--database", str(db))
    assert code == 1 and "not an audit anchor" in out


def test_an_empty_database_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    code, out, _ = main(capsys, "audit", "verify", "--database", str(fresh))
    assert code == 0 and out.startswith("audit: 0 entries, chain intact")


def test_a_missing_database_is_a_usage_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "onetap.db"
    code, _, err = main(capsys, "audit", "verify", "--database", str(missing))
    assert code == 2
    assert f"{missing}: no database there" in err
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    code, _, err = main(capsys, "audit", "export", "--database", str(junk))
    assert code == 2 and str(junk) in err


# --------------------------------------------------------------------------- export
def _chain_holds(lines: list[dict[str, object]]) -> None:
    prev = GENESIS_HASH
    for expected_seq, entry in enumerate(lines, start=1):
        assert list(entry) == ["seq", "ts", "actor", "source", "action", "payload", "prev_hash", "hash"]
        assert entry["seq"] == expected_seq and entry["prev_hash"] == prev
        recomputed = entry_hash(
            prev,
            int(str(entry["seq"])),
            str(entry["ts"]),
            str(entry["actor"]),
            str(entry["source"]),
            str(entry["action"]),
            entry["payload"],
        )
        assert recomputed == entry["hash"]
        prev = str(entry["hash"])


def test_export_round_trips_to_stdout(db: Path, tmp_path: Path) -> None:
    result = onetap("audit", "export", "--database", str(db), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == N
    with Store.open(db) as store:
        assert [(e["seq"], e["hash"]) for e in lines] == [(r.seq, r.hash) for r in store.load_audit()]
        assert lines[0]["payload"] == store.load_audit()[0].payload
    assert lines[0]["actor"] == "alice" and lines[1]["source"] == "engine"
    assert lines[0]["ts"] == "2024-03-04T14:30:01.000000+00:00"
    _chain_holds(lines)


def test_export_to_a_private_file(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "audit.jsonl"
    out.write_text("old")
    out.chmod(0o644)
    code, stdout, stderr = main(capsys, "audit", "export", "--database", str(db), "--out", str(out))
    assert code == 0 and stdout == ""
    assert f"{N} entries written to {out}" in stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == N
    _chain_holds(lines)


def test_export_of_a_tampered_log_shows_the_tampering(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql(db, "UPDATE audit_events SET payload_json = '{not json' WHERE seq = 5")
    code, out, _ = main(capsys, "audit", "export", "--database", str(db))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == N and lines[4]["payload"] == "{not json"  # exported as it is, raw


def test_export_into_a_closed_pipe_is_quiet(db: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    export = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "audit", "export", "--database", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert export.stdout is not None and export.stderr is not None
    export.stdout.readline()
    export.stdout.close()  # `| head -1`
    err = export.stderr.read().decode()
    assert export.wait(timeout=30) == 0
    assert "Traceback" not in err
