"""Scheduled backups (CERCAP_BACKUP_DIR): one a day at the set Bangkok time, verified,
rotated to 7 daily and 4 weekly (moved clock); a failure is logged, counted and tried again;
PostgreSQL is left to pg_dump; and the restore drill: backups taken while people report,
the latest restored with `cercap-bot restore`, every report confirmed before it there."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot import backup_schedule
from bot.backup_schedule import BackupSchedule, list_backups, to_keep
from bot.cli import main
from bot.metrics import Metrics
from handlers.clock import BANGKOK, FixedClock
from handlers.messages import Incoming
from storage.migrations import LATEST_VERSION
from tests.conftest import Harness

pytestmark = pytest.mark.sqlite_only  # SQLite's own backup API; PostgreSQL: pg_dump


def bangkok(day: date, hour: int = 3, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)


def verified(path: Path) -> tuple[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return (conn.execute("PRAGMA integrity_check").fetchone()[0],
                int(conn.execute("PRAGMA user_version").fetchone()[0]))


def metric(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


async def test_sixty_days_of_backups_rotate_to_seven_daily_and_four_weekly(
        db_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    clock = FixedClock(bangkok(date(2025, 1, 1), 1, 0))
    metrics = Metrics(clock)
    schedule = BackupSchedule(db_path, folder, clock, metrics=metrics)
    assert await schedule.run_due() is None  # 01:00: not yet (the time is 02:30)
    day = date(2025, 1, 1)
    while day <= date(2025, 3, 1):
        clock.set(bangkok(day, 2, 29))
        assert await schedule.run_due() is None
        clock.set(bangkok(day, 3, 0))
        taken = await schedule.run_due()
        assert taken is not None and taken.path.name == f"cercap-{day:%Y-%m-%d}-0300.db"
        clock.set(bangkok(day, 23, 0))
        assert await schedule.run_due() is None  # one a day
        day += timedelta(days=1)
    kept = sorted(b.day for b in list_backups(folder))
    # 1 March 2025 is a Saturday: the last 7 days (23 Feb - 1 Mar), and the newest backup of
    # each of the last 4 ISO weeks (1 Mar, 23 Feb: daily already; 16 Feb, 9 Feb).
    assert kept == [date(2025, 2, 9), date(2025, 2, 16)] + [
        date(2025, 2, 23) + timedelta(days=n) for n in range(7)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        b.path.name for b in list_backups(folder))  # no .partial left behind
    for b in list_backups(folder):
        assert verified(b.path) == ("ok", LATEST_VERSION)
    assert metric(metrics, "cercap_backups_total") == 60
    assert metric(metrics, "cercap_backup_failures_total") == 0
    assert metric(metrics, "cercap_backup_last_success_timestamp_seconds") == \
        bangkok(date(2025, 3, 1)).timestamp()


def test_keep_counts_are_settings(tmp_path: Path) -> None:
    files = [backup_schedule.BackupFile(tmp_path / f"{n}", bangkok(date(2025, 3, 1) -
                                        timedelta(days=n)), 1) for n in range(40)]
    assert len(to_keep(files, 3, 0)) == 3
    assert len(to_keep(files, 1, 6)) == 6  # today's is both daily and weekly
    assert len(to_keep(files, 7, 4)) == 9


async def test_a_restart_on_the_same_day_takes_no_second_backup(
        db_path: Path, tmp_path: Path) -> None:
    clock = FixedClock(bangkok(date(2025, 1, 10), 9, 0))
    first = BackupSchedule(db_path, tmp_path / "b", clock)
    assert await first.run_due() is not None  # started after 02:30 with none today: at once
    again = BackupSchedule(db_path, tmp_path / "b", clock)
    assert await again.run_due() is None
    assert again.next_due(clock.now()) == bangkok(date(2025, 1, 11), 2, 30)


async def test_a_backup_that_fails_verification_is_an_error_counted_and_retried(
        db_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "backups"
    clock = FixedClock(bangkok(date(2025, 1, 10), 3, 0))
    metrics = Metrics(clock)
    schedule = BackupSchedule(db_path, folder, clock, metrics=metrics)
    # The bot expects a newer schema than the file has: the written copy does not verify.
    monkeypatch.setattr(backup_schedule, "LATEST_VERSION", LATEST_VERSION + 1)
    with caplog.at_level(logging.ERROR), pytest.raises(Exception, match="schema"):
        await schedule.run_due()
    assert any(r.levelno == logging.ERROR and "scheduled backup" in r.getMessage()
               for r in caplog.records)
    assert list(folder.iterdir()) == []  # nothing that looks like a backup, no .partial
    assert metric(metrics, "cercap_backup_failures_total") == 1
    monkeypatch.setattr(backup_schedule, "LATEST_VERSION", LATEST_VERSION)
    clock.advance(timedelta(minutes=59))
    assert await schedule.run_due() is None  # tried again an hour later, not at once
    clock.advance(timedelta(minutes=1))
    assert await schedule.run_due() is not None
    assert metric(metrics, "cercap_backups_total") == 1


async def test_a_folder_that_cannot_be_written_is_a_failure(
        db_path: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    metrics = Metrics()
    schedule = BackupSchedule(db_path, blocked / "backups", FixedClock(
        bangkok(date(2025, 1, 10))), metrics=metrics)
    with pytest.raises(OSError):
        await schedule.run_due()
    assert metric(metrics, "cercap_backup_failures_total") == 1


async def test_on_postgresql_the_schedule_says_once_it_is_pg_dumps_job(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    schedule = BackupSchedule("postgresql://cercap@db.example/cercap",  # type: ignore[arg-type]
                              tmp_path / "backups", FixedClock(bangkok(date(2025, 1, 10))))
    with caplog.at_level(logging.INFO):
        await asyncio.wait_for(schedule.run(), 5)  # returns: nothing scheduled
    said = [r for r in caplog.records if "pg_dump" in r.getMessage()]
    assert len(said) == 1
    assert not (tmp_path / "backups").exists()


# --- the restore drill ------------------------------------------------------------------

def report_steps(tag: str) -> list[str]:
    return ["รายงานปัญหา", "อาหาร/ความอดอยาก", f"เด็กเล็กขาดอาหารกลางวัน {tag}", "12",
            "ปานกลาง", "ข้าม", "ข้าม", "บันทึก"]


def problems(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, description FROM problems").fetchall())


async def test_restore_drill_every_report_confirmed_before_the_latest_backup_is_back(
        console: Harness, db_path: Path, tmp_path: Path, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await console.start("1")
    folder = tmp_path / "backups"
    schedule = BackupSchedule(db_path, folder, clock, keep_daily=2, keep_weekly=0)
    confirmed_before: dict[int, str] = {}
    updates = iter(range(10**6))

    async def report(tag: str) -> None:
        for text in report_steps(tag):
            await console.engine.handle(Incoming(
                channel="console", user_id="demo-village", chat_id="demo-village",
                update_id=f"drill-{next(updates)}", text=text))
            await asyncio.sleep(0)  # the backup's thread and the reports interleave

    for n, day in enumerate((date(2025, 1, 11), date(2025, 1, 12), date(2025, 1, 13))):
        clock.set(bangkok(day, 2, 30))
        await report(f"วันที่ {n} ก่อน")
        confirmed_before = problems(db_path)  # committed before this day's backup began
        # People go on reporting while the backup is written, in its thread.
        taken, _ = await asyncio.gather(schedule.run_due(), report(f"วันที่ {n} ระหว่าง"))
        assert taken is not None
    await report("หลังสำรอง")  # after the latest backup: not in it
    everything = problems(db_path)
    assert len(everything) >= 7 and all(
        any(t in d for d in everything.values()) for t in ("ก่อน", "ระหว่าง", "หลังสำรอง"))
    await console.db.close()  # the bot stops before a restore

    latest = list_backups(folder)[0]
    assert len(list_backups(folder)) == 2  # rotated to keep_daily=2
    live = tmp_path / "live.db"
    monkeypatch.setenv("CERCAP_DB", str(live))
    assert main(["restore", str(latest.path)]) == 0
    restored = problems(live)
    # Every report confirmed before the backup began is there, word for word ...
    assert confirmed_before.items() <= restored.items()
    # ... and what is there is the live database as it stood: nothing from after the backup
    # (a consistent snapshot: the reports made during it either whole or not at all).
    assert restored.items() <= everything.items()
    assert not any("หลังสำรอง" in d for d in restored.values())
    assert verified(live)[0] == "ok"
