"""`cercap-bot status`: the bot's health at a glance in the terminal, also while it runs.

Read-only: on SQLite the file is opened with `mode=ro` (no migration, no instance lock, the
running bot is neither waited for nor held up); on PostgreSQL an ordinary connection reads.
Shows the database and its size, the outbox and inbox backlogs, what failed in the last
24 hours and why, when each reminder runs next and the last scheduled backup. Dates are
in the Buddhist Era, times in Bangkok."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.backup_schedule import BackupFile, is_postgres, list_backups
from bot.config import Settings, StartupError
from bot.metrics import PRIORITY_NAMES
from handlers.clock import BANGKOK, Clock, SystemClock, local_date
from locales import format_date
from storage import monitoring, reminders
from storage.connection import Connection
from storage.db import Database

FAILURE_WINDOW = timedelta(hours=24)


@dataclass
class Status:
    now: datetime
    database: str
    size_bytes: int | None
    outbox: list[monitoring.Backlog] = field(default_factory=list)
    inbox: list[monitoring.Backlog] = field(default_factory=list)
    failures: list[monitoring.Failure] = field(default_factory=list)
    schedules: list[reminders.Schedule] = field(default_factory=list)
    backup_dir: Path | None = None
    backups: list[BackupFile] = field(default_factory=list)
    postgres: bool = False


@contextlib.asynccontextmanager
async def _reading(settings: Settings) -> AsyncIterator[Connection]:
    if is_postgres(settings.db_path):
        async with Database(settings.db_path) as db, db.read() as conn:
            yield conn
        return
    path = Path(settings.db_path)
    if not path.is_file():
        raise StartupError(f"no database at {path} (CERCAP_DB)")
    conn = monitoring.open_read_only(path)
    try:
        yield conn
    finally:
        await conn.close()


def _file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


async def gather(settings: Settings, clock: Clock | None = None) -> Status:
    now = (clock or SystemClock()).now()
    postgres = is_postgres(settings.db_path)
    async with _reading(settings) as conn:
        status = Status(
            now=now, database=monitoring.describe(settings.db_path) if postgres
            else str(settings.db_path),
            size_bytes=await monitoring.server_database_size(conn) if postgres
            else _file_size(Path(settings.db_path)),
            outbox=await monitoring.outbox_backlog(conn),
            inbox=await monitoring.inbox_backlog(conn),
            failures=await monitoring.failures_since(conn, now - FAILURE_WINDOW),
            schedules=[s for s in await reminders.schedules(conn) if s.enabled],
            backup_dir=settings.backup_dir, postgres=postgres)
    if settings.backup_dir is not None and not postgres:
        status.backups = list_backups(settings.backup_dir)
    return status


def _when(moment: datetime) -> str:
    return f"{format_date(local_date(moment), 'en')} {moment.astimezone(BANGKOK):%H:%M}"


def _age(now: datetime, since: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def render(s: Status) -> str:
    lines = [f"cercap-bot status at {_when(s.now)} (Bangkok)",
             f"database: {s.database}" + (f" ({_size(s.size_bytes)})"
                                          if s.size_bytes is not None else "")]
    lines.append("outbox (waiting to be sent):" if s.outbox else "outbox: nothing waiting")
    for b in s.outbox:
        lines.append(f"  {b.channel:<9} {PRIORITY_NAMES.get(b.priority, b.priority):<13}"
                     f"{b.waiting:>7}  oldest {_age(s.now, b.oldest)}")
    lines.append("inbox (stored, not handled):" if s.inbox else "inbox: nothing waiting")
    for b in s.inbox:
        lines.append(f"  {b.channel:<9} {b.waiting:>7}  oldest {_age(s.now, b.oldest)}")
    lines.append("failed in the last 24 hours:" if s.failures
                 else "failed in the last 24 hours: none")
    for f in s.failures:
        what = "messages not delivered" if f.source == "outbox" else "updates given up"
        lines.append(f"  {f.channel:<9} {f.count:>5} {what}: {f.reason}")
    lines.append("next reminders:" if s.schedules else "next reminders: none enabled")
    for sched in sorted(s.schedules, key=lambda x: (x.next_run_at is None, x.next_run_at
                                                    or s.now, x.kind)):
        when = _when(sched.next_run_at) if sched.next_run_at else "when the bot next starts"
        lines.append(f"  {sched.kind:<20} {when}")
    lines.append(_backup_line(s))
    return "\n".join(lines)


def _backup_line(s: Status) -> str:
    if s.postgres:
        return "last backup: PostgreSQL is backed up with pg_dump, not by the bot"
    if s.backup_dir is None:
        return "last backup: scheduled backups are off (CERCAP_BACKUP_DIR not set)"
    if not s.backups:
        return f"last backup: none yet in {s.backup_dir}"
    newest = s.backups[0]
    return (f"last backup: {newest.path} at {_when(newest.taken_at)}, {_size(newest.size)}, "
            f"{_age(s.now, newest.taken_at)} ago ({len(s.backups)} kept)")


async def status_text(settings: Settings, clock: Clock | None = None) -> str:
    return render(await gather(settings, clock))
