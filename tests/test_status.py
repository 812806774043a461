"""`cercap-bot status`: backlog, failures of the last day with reasons, next reminders,
database size and last backup, read beside a running bot (no instance lock, nothing
written)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import date
from pathlib import Path

import pytest

from bot.backup_schedule import BackupSchedule
from bot.cli import main
from bot.service import Service
from handlers.clock import FixedClock
from tests.conftest import eventually
from tests.servers.telegram_api import TelegramTestServer
from tests.test_backup_schedule import bangkok
from tests.test_durable_intake import tg_settings

USER = 7_400_001


@pytest.mark.sqlite_only  # the SQLite file, read-only
async def test_status_beside_a_running_bot(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "backups"
    await BackupSchedule(seeded_db_path, folder, FixedClock(
        bangkok(date(2025, 1, 10), 3))).take()
    monkeypatch.setenv("CERCAP_DB", str(seeded_db_path))
    monkeypatch.setenv("CERCAP_BACKUP_DIR", str(folder))
    settings = tg_settings(seeded_db_path, tg, tmp_path / "media", webhook=True)
    async with Service(settings, background=False) as service:  # holds the instance lock
        await service.scheduler.run_due()  # gives every reminder its next time
        tg.fail_next("sendMessage", 400, description="Bad Request: can't parse entities")
        assert await tg.deliver_to_webhook(tg.text_update(USER, "/start")) == 200
        assert await tg.deliver_to_webhook(tg.text_update(USER + 1, "/start")) == 200

        async def handled() -> bool:
            async with service.app.db.read() as conn, conn.execute(
                    "SELECT COUNT(DISTINCT chat_id) FROM outbox WHERE status = 'pending'"
            ) as cur:
                return (await cur.fetchone())[0] == 2
        await eventually(handled, what="both answers queued")
        await service.app.outbox.deliver_due(chat_id=str(USER))  # the 400: failed for good
        # Another process, in effect: its own event loop, its own connection.
        assert await asyncio.to_thread(main, ["status"]) == 0
    out = capsys.readouterr().out
    assert f"database: {seeded_db_path} (" in out and re.search(r"\((\d[\d,.]*) (kB|MB)\)", out)
    assert re.search(r"outbox \(waiting to be sent\):\n  telegram +live_reply +\d+  oldest", out)
    assert re.search(r"failed in the last 24 hours:\n  telegram +1 messages not delivered: "
                     r"http_400", out)
    assert re.search(r"next reminders:\n  \w+ +\d{1,2} \w{3} B\.E\. 25\d\d \d\d:\d\d", out)
    assert "weekly_progress" in out and "core_digest" in out
    assert re.search(r"last backup: .*cercap-2025-01-10-0300\.db at 10 Jan B\.E\. 2568 03:00, "
                     r"[\d,.]+ (kB|MB), \d+ days ago \(1 kept\)", out)


@pytest.mark.sqlite_only  # the SQLite file, read-only
def test_status_writes_nothing_and_says_when_backups_are_off(
        seeded_db_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERCAP_DB", str(seeded_db_path))
    monkeypatch.delenv("CERCAP_BACKUP_DIR", raising=False)
    before = hashlib.sha256(seeded_db_path.read_bytes()).hexdigest()
    beside = sorted(p.name for p in seeded_db_path.parent.iterdir())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "outbox: nothing waiting" in out and "inbox: nothing waiting" in out
    assert "failed in the last 24 hours: none" in out
    assert "scheduled backups are off (CERCAP_BACKUP_DIR not set)" in out
    assert hashlib.sha256(seeded_db_path.read_bytes()).hexdigest() == before
    # no lock file, no migration; SQLite's read-only WAL index files aside
    assert [p for p in sorted(p.name for p in seeded_db_path.parent.iterdir())
            if p not in beside and not p.endswith(("-shm", "-wal"))] == []


@pytest.mark.sqlite_only  # the SQLite file, read-only
def test_status_of_a_missing_database_is_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERCAP_DB", str(tmp_path / "none.db"))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no database at") and err.count("\n") == 1
    assert not (tmp_path / "none.db").exists()


async def test_status_on_either_engine(seeded_db_path: Path, tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.status import status_text

    settings = Settings(db_path=seeded_db_path, media_dir=tmp_path, telegram_token=None,
                        telegram_bot_username=None, log_level="INFO", backup_dir=tmp_path)
    out = await status_text(settings)
    assert "outbox: nothing waiting" in out and "next reminders" in out
    assert re.search(r"database: .* \([\d,.]+ (kB|MB)\)", out)
    if isinstance(seeded_db_path, Path):
        assert f"last backup: none yet in {tmp_path}" in out
    else:  # PostgreSQL: no password printed, and backups are pg_dump's
        from urllib.parse import urlsplit

        assert "backed up with pg_dump, not by the bot" in out
        password = urlsplit(str(seeded_db_path)).password
        assert password is None or password not in out
