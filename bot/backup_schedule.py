"""Scheduled online backups (CERCAP_BACKUP_DIR): one a day at CERCAP_BACKUP_TIME (Bangkok),
with SQLite's backup API as `cercap-bot backup` does (`storage/backup.py`), in a worker
thread so the event loop keeps serving; each verified after writing, then the folder
rotated.

A backup is written as `<name>.partial`, checked (integrity check; its schema version is
the running bot's), and only then renamed to `cercap-YYYY-MM-DD-HHMM.db` (Bangkok time): a
file with that name is always a whole, verified backup. The folder is the schedule's
memory: a backup is due when none was taken on today's Bangkok date and the time has come,
so a restart neither skips a day nor takes a second. A failure is logged as an error,
counted in the metrics (`cercap_backup_failures_total`) and tried again an hour later.

Rotation keeps the newest backup of each of the last `keep_daily` days that have one and
the newest of each of the last `keep_weekly` ISO weeks that have one (a backup can be
both); every other `cercap-*.db` in the folder is deleted.

On PostgreSQL the schedule does nothing but say once that backups are pg_dump's job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from handlers.clock import BANGKOK, Clock, SystemClock
from storage import backup
from storage.instance_lock import is_file_database
from storage.migrations import LATEST_VERSION

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"cercap-(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})\.db")
PARTIAL = ".partial"
RETRY_AFTER = timedelta(hours=1)
MAX_SLEEP_SECONDS = 60.0


class BackupMetrics(Protocol):
    def backup_done(self, finished: datetime, size: int, seconds: float) -> None: ...

    def backup_failed(self) -> None: ...


@dataclass(frozen=True)
class BackupFile:
    path: Path
    taken_at: datetime  # Bangkok time, to the minute, from the name
    size: int

    @property
    def day(self) -> date:
        return self.taken_at.date()


def file_name(moment: datetime) -> str:
    return f"cercap-{moment.astimezone(BANGKOK):%Y-%m-%d-%H%M}.db"


def list_backups(folder: Path) -> list[BackupFile]:
    """The backups in `folder`, newest first (other files are not looked at)."""
    found = []
    if not folder.is_dir():
        return []
    for path in folder.iterdir():
        match = NAME_RE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        y, m, d, hh, mm = (int(g) for g in match.groups())
        try:
            taken = datetime(y, m, d, hh, mm, tzinfo=BANGKOK)
        except ValueError:
            continue
        found.append(BackupFile(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: (b.taken_at, b.path.name), reverse=True)


def to_keep(backups: Iterable[BackupFile], keep_daily: int, keep_weekly: int) -> set[Path]:
    """The newest backup of each of the last `keep_daily` days and of each of the last
    `keep_weekly` ISO weeks (each counted among the days or weeks that have a backup)."""
    newest_first = sorted(backups, key=lambda b: b.taken_at, reverse=True)
    keep: set[Path] = set()
    for period, count in ((lambda b: b.day, keep_daily),
                          (lambda b: b.day.isocalendar()[:2], keep_weekly)):
        seen: set[object] = set()
        for b in newest_first:
            key = period(b)
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(key)
            keep.add(b.path)
    return keep


def is_postgres(db_path: Path | str) -> bool:
    text = str(db_path)
    return text.startswith(("postgresql:", "postgres:")) or not is_file_database(text)


def _write_and_verify(db_path: Path, folder: Path, name: str) -> Path:
    """Runs in a worker thread: the backup, its check, the rename."""
    target = folder / name
    partial = folder / f"{name}{PARTIAL}"
    partial.unlink(missing_ok=True)  # left by a crash: never a backup
    try:
        version = backup.backup(db_path, partial)  # integrity check included
        if version != LATEST_VERSION:
            raise backup.BackupError(f"{partial} has schema {version}, the bot "
                                     f"{LATEST_VERSION}")
        wal = Path(f"{partial}-wal")
        if wal.exists() and wal.stat().st_size:
            raise backup.BackupError(f"{partial} was left with a write-ahead log")
        _drop_side_files(partial)
        partial.replace(target)
    except BaseException:
        _drop_side_files(partial)
        partial.unlink(missing_ok=True)
        raise
    return target


def _drop_side_files(path: Path) -> None:
    """The -wal and -shm files the read-only check leaves beside the copy (empty: nothing
    was written through it)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class BackupSchedule:
    def __init__(self, db_path: Path, folder: Path, clock: Clock | None = None, *,
                 keep_daily: int = 7, keep_weekly: int = 4, at: tuple[int, int] = (2, 30),
                 metrics: BackupMetrics | None = None) -> None:
        self.db_path = db_path
        self.folder = folder
        self.clock = clock or SystemClock()
        self.keep_daily = keep_daily
        self.keep_weekly = keep_weekly
        self.at = at
        self.metrics = metrics
        self._retry_at: datetime | None = None
        self._lock = asyncio.Lock()

    def next_due(self, now: datetime) -> datetime:
        """When the next backup is due (`now` or earlier: at once)."""
        if self._retry_at is not None:
            return self._retry_at
        local = now.astimezone(BANGKOK)
        today_at = local.replace(hour=self.at[0], minute=self.at[1], second=0, microsecond=0)
        newest = list_backups(self.folder)[:1]
        if newest and newest[0].day >= local.date():
            return today_at + timedelta(days=1)
        return today_at

    async def run_due(self) -> BackupFile | None:
        """Take the backup when it is due; returns it (None when not due). Raises when it
        fails, after logging and counting the failure."""
        if self.next_due(self.clock.now()) > self.clock.now():
            return None
        return await self.take()

    async def take(self) -> BackupFile:
        """Write, verify and rotate now (off the event loop)."""
        async with self._lock:
            now = self.clock.now()
            started = time.perf_counter()
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = await asyncio.to_thread(_write_and_verify, self.db_path, self.folder,
                                               file_name(now))
            except Exception as exc:
                self._retry_at = now + RETRY_AFTER
                log.error("scheduled backup into %s failed (tried again at %s): %s",
                          self.folder, self._retry_at.astimezone(BANGKOK).strftime("%H:%M"),
                          exc)
                if self.metrics is not None:
                    self.metrics.backup_failed()
                raise
            self._retry_at = None
            seconds = time.perf_counter() - started
            size = path.stat().st_size
            deleted = await asyncio.to_thread(self.rotate)
            log.info("backup %s written and verified (%d bytes, %.1f s); %d old ones deleted",
                     path.name, size, seconds, len(deleted))
            if self.metrics is not None:
                self.metrics.backup_done(self.clock.now(), size, seconds)
            return BackupFile(path, now.astimezone(BANGKOK).replace(second=0, microsecond=0),
                              size)

    def rotate(self) -> list[Path]:
        backups = list_backups(self.folder)
        keep = to_keep(backups, self.keep_daily, self.keep_weekly)
        deleted = [b.path for b in backups if b.path not in keep]
        for path in deleted:
            path.unlink(missing_ok=True)
        return deleted

    async def run(self) -> None:
        """Back up whenever due, forever (or say once why not, on PostgreSQL)."""
        if is_postgres(self.db_path):
            log.warning("CERCAP_BACKUP_DIR is set but the database is PostgreSQL: the bot "
                        "takes no backups of it; back it up with pg_dump (see the README)")
            return
        while True:
            with contextlib.suppress(Exception):  # logged and counted by take()
                await self.run_due()
            wait = (self.next_due(self.clock.now()) - self.clock.now()).total_seconds()
            await asyncio.sleep(min(MAX_SLEEP_SECONDS, max(1.0, wait)))
