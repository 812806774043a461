"""What the operator watches, read from the database: the backlogs (refreshed into the
metrics every few seconds, `bot/metrics.py`) and the recent failures (`cercap-bot status`).
Cheap queries on indexed columns; nothing here writes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Backlog:
    channel: str
    priority: int
    waiting: int
    oldest: datetime


@dataclass(frozen=True)
class Failure:
    source: str  # "outbox" (a message not delivered) or "inbox" (an update given up)
    channel: str
    reason: str
    count: int


def open_read_only(path: Path) -> Connection:
    """A connection that cannot write (for `cercap-bot status` beside a running bot: no
    migration, no lock, WAL read as it stands)."""
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                          check_same_thread=False)
    raw.row_factory = Row
    raw.execute("PRAGMA busy_timeout = 5000")
    return Connection(raw)


async def outbox_backlog(conn: Connection) -> list[Backlog]:
    """Unsent messages by channel and priority, with the creation time of the oldest."""
    async with conn.execute(
        "SELECT channel, priority, COUNT(*), MIN(created_at) FROM outbox"
        " WHERE status = 'pending' GROUP BY channel, priority ORDER BY channel, priority"
    ) as cur:
        return [Backlog(r[0], int(r[1]), int(r[2]), from_db(r[3]))
                for r in await cur.fetchall()]


async def inbox_backlog(conn: Connection) -> list[Backlog]:
    """Stored updates not handled yet, by channel (priority 0)."""
    async with conn.execute(
        "SELECT channel, COUNT(*), MIN(received_at) FROM inbox WHERE status = 'pending'"
        " GROUP BY channel ORDER BY channel"
    ) as cur:
        return [Backlog(r[0], 0, int(r[1]), from_db(r[2])) for r in await cur.fetchall()]


def _reason(error: str | None) -> str:
    """A failure's reason without its details (the part before the first colon)."""
    text = (error or "unknown").strip()
    head = text.split(":", 1)[0].strip()
    if head.isdigit():
        return f"http_{head}"
    return head[:60] or "unknown"


async def failures_since(conn: Connection, since: datetime) -> list[Failure]:
    """Messages that failed for good and updates given up since `since`, by reason.

    An outbox row does not store when it failed: the time of its last attempt
    (`next_attempt_at`, when it was last due) stands for it. An inbox row is counted by
    when it was received."""
    counts: dict[tuple[str, str, str], int] = {}
    async with conn.execute(
        "SELECT channel, last_error FROM outbox WHERE status = 'failed'"
        " AND next_attempt_at >= ?", (to_db(since),)
    ) as cur:
        for channel, error in await cur.fetchall():
            key = ("outbox", channel, _reason(error))
            counts[key] = counts.get(key, 0) + 1
    async with conn.execute(
        "SELECT channel, last_error FROM inbox WHERE status = 'failed' AND received_at >= ?",
        (to_db(since),)
    ) as cur:
        for channel, error in await cur.fetchall():
            key = ("inbox", channel, _reason(error))
            counts[key] = counts.get(key, 0) + 1
    return [Failure(source, channel, reason, n)
            for (source, channel, reason), n in sorted(counts.items())]


async def server_database_size(conn: Connection) -> int | None:
    """The size of a PostgreSQL database, in bytes."""
    async with conn.execute("SELECT pg_database_size(current_database())") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def describe(target: object) -> str:
    """A database URL as it may be printed: without its password."""
    parts = urlsplit(str(target))
    if parts.password is None:
        return str(target)
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
