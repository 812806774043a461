"""Backups taken while conversations are in flight, and restores that give back exactly
the data backed up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from handlers.messages import Incoming
from storage import backup
from tests.conftest import Harness

TABLES = ("people", "identities", "role_grants", "problems", "conversations", "drafts",
          "processed_updates", "outbox", "audit_log", "invites", "areas")


def dump(path: Path) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


@pytest.mark.sqlite_only  # SQLite's backup API (PostgreSQL: pg_dump)
async def test_backup_while_people_are_reporting_then_restore(
        console: Harness, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")  # a conversation in the middle of a flow

    async def keep_reporting() -> None:
        steps = ["รายงานปัญหา", "อาหาร/ความอดอยาก", "เด็กเล็กขาดอาหารกลางวัน", "12", "ปานกลาง",
                 "ข้าม", "ข้าม", "บันทึก"]
        for n in range(6):
            for i, text in enumerate(steps):
                await console.engine.handle(Incoming(
                    channel="console", user_id="demo-village", chat_id="demo-village",
                    update_id=f"busy-{n}-{i}", text=text))
                await asyncio.sleep(0)  # let the backup thread interleave

    target = tmp_path / "backups" / "during.db"
    writer = asyncio.create_task(keep_reporting())
    await asyncio.to_thread(backup.backup, db_path, target)
    await writer

    taken = dump(target)
    # A consistent snapshot: every handled update has its replies (queued by the same
    # transaction, at the same instant: the update's own carry no dedupe key), every saved
    # report its audit row, nothing half-written.
    handled = {at for _, u, at in taken["processed_updates"] if u.startswith("busy-")}
    replied = {row[13] for row in taken["outbox"] if row[2] == "demo-village"}
    assert handled <= replied
    reports = {p[0] for p in taken["problems"]}
    audited = {int(a[5]) for a in taken["audit_log"] if a[3] == "problem.report"}
    assert reports == audited

    restored = tmp_path / "restored.db"
    backup.restore(target, restored)
    assert dump(restored) == taken

    # Through the command line, into the configured database.
    monkeypatch.setenv("CERCAP_DB", str(tmp_path / "live.db"))
    assert main(["restore", str(target)]) == 0
    assert dump(tmp_path / "live.db") == taken
    assert main(["backup", str(tmp_path / "again.db")]) == 0
    assert dump(tmp_path / "again.db") == taken


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises((backup.BackupError, sqlite3.DatabaseError)):
        backup.restore(broken, tmp_path / "live.db")
    assert not (tmp_path / "live.db").exists() or (tmp_path / "live.db").stat().st_size == 0


@pytest.mark.sqlite_only  # SQLite's backup API (PostgreSQL: pg_dump)
def test_backup_never_overwrites(tmp_path: Path, db_path: Path) -> None:
    existing = tmp_path / "exists.db"
    existing.write_text("keep me")
    with pytest.raises(backup.BackupError):
        backup.backup(db_path, existing)
    assert existing.read_text() == "keep me"
