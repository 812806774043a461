"""The outbox: every message the bot sends is written here in the handling
transaction, then delivered by the sender. Nothing is sent from inside a transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db

Chat = tuple[str, str]  # (channel, chat_id): where a row goes

LIVE_REPLY = 0
NOTIFICATION = 1
BULK = 2


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    channel: str
    chat_id: str
    person_id: int | None
    priority: int
    payload: dict[str, Any]
    reply_token: str | None
    retry_key: str
    attempts: int
    created_at: datetime
    batch: str | None = None  # "reminder:<kind>", "broadcast:<id>" (bot/metrics.py counts)


async def enqueue(conn: Connection, *, channel: str, chat_id: str,
                  person_id: int | None, priority: int, payload: dict[str, Any], now: datetime,
                  reply_token: str | None = None, dedupe_key: str | None = None) -> int | None:
    """Queue one message; returns its id, or None when `dedupe_key` was queued before."""
    message = await enqueue_message(conn, channel=channel, chat_id=chat_id,
                                    person_id=person_id, priority=priority, payload=payload,
                                    now=now, reply_token=reply_token, dedupe_key=dedupe_key)
    return message.id if message else None


async def enqueue_message(conn: Connection, *, channel: str, chat_id: str,
                          person_id: int | None, priority: int, payload: dict[str, Any],
                          now: datetime, reply_token: str | None = None,
                          dedupe_key: str | None = None) -> OutboxMessage | None:
    """Queue one message; returns it as `due` would read it back, or None when
    `dedupe_key` was queued before."""
    retry_key, moment = str(uuid.uuid4()), to_db(now)
    cur = await conn.execute(
        "INSERT OR IGNORE INTO outbox (channel, chat_id, person_id, priority, payload,"
        " reply_token, retry_key, dedupe_key, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (channel, chat_id, person_id, priority, json.dumps(payload, ensure_ascii=False),
         reply_token, retry_key, dedupe_key, moment, moment),
    )
    if cur.rowcount != 1 or cur.lastrowid is None:
        return None
    return OutboxMessage(cur.lastrowid, channel, chat_id, person_id, priority, payload,
                         reply_token, retry_key, 0, from_db(moment))


@dataclass(frozen=True)
class NewMessage:
    channel: str
    chat_id: str
    person_id: int | None
    payload_json: str
    dedupe_key: str


async def enqueue_many(conn: Connection, messages: list[NewMessage], *,
                       priority: int, now: datetime, not_before: datetime | None = None,
                       batch: str | None = None) -> int:
    """Queue many messages at once (reminders, announcements); a dedupe key queued
    before is skipped. Returns how many were queued."""
    before = conn.total_changes
    due = to_db(not_before or now)
    await conn.executemany(
        "INSERT OR IGNORE INTO outbox (channel, chat_id, person_id, priority, payload,"
        " retry_key, dedupe_key, next_attempt_at, created_at, batch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(m.channel, m.chat_id, m.person_id, priority, m.payload_json, str(uuid.uuid4()),
          m.dedupe_key, due, to_db(now), batch) for m in messages],
    )
    return conn.total_changes - before


def _message(r: Row) -> OutboxMessage:
    return OutboxMessage(r["id"], r["channel"], r["chat_id"], r["person_id"], r["priority"],
                         json.loads(r["payload"]), r["reply_token"], r["retry_key"],
                         r["attempts"], from_db(r["created_at"]), r["batch"])


_COLUMNS = ("id, channel, chat_id, person_id, priority, payload, reply_token, retry_key,"
            " attempts, created_at, batch")


async def due(conn: Connection, channel: str, now: datetime, limit: int = 100,
              chat_id: str | None = None, most_priority: int = BULK) -> list[OutboxMessage]:
    """Pending messages whose time has come, most urgent first, oldest first within that.

    A chat's messages keep their order: one waiting for a retry holds back the later
    ones of the same chat, unless they are more urgent (a live reply does not wait
    behind a reminder in backoff). `most_priority` leaves out the less urgent ones."""
    chat_filter = " AND o.chat_id = ?" if chat_id is not None else ""
    params: tuple[Any, ...] = (channel, to_db(now))
    if chat_id is not None:
        params += (chat_id,)
    if most_priority < BULK:
        chat_filter += " AND o.priority <= ?"
        params += (most_priority,)
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM outbox o WHERE o.status = 'pending' AND o.channel = ?"
        f" AND o.next_attempt_at <= ?{chat_filter}"
        " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.channel = o.channel"
        "   AND e.chat_id = o.chat_id AND e.status = 'pending' AND e.id < o.id"
        "   AND e.priority <= o.priority AND e.next_attempt_at > ?)"
        " ORDER BY o.priority, o.id LIMIT ?",
        (*params, to_db(now), limit),
    ) as cur:
        return [_message(r) for r in await cur.fetchall()]


async def last_live_replies(conn: Connection, channel: str, chat_id: str,
                            limit: int) -> list[OutboxMessage]:
    """The newest live replies queued for a chat, newest first, sent or not (the question
    its conversation is open at is among them). Index `outbox_chat`."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE channel = ? AND chat_id = ? AND priority = ?"
        " ORDER BY id DESC LIMIT ?", (channel, chat_id, LIVE_REPLY, limit),
    ) as cur:
        return [_message(r) for r in await cur.fetchall()]


async def pending_before(conn: Connection, channel: str, chat_id: str, message_id: int
                         ) -> bool:
    """Whether an earlier message still waits to be sent to this chat."""
    return await _pending_beside(conn, channel, chat_id, message_id, earlier=True)


async def pending_after(conn: Connection, channel: str, chat_id: str, message_id: int
                        ) -> bool:
    """Whether a later message waits to be sent to this chat."""
    return await _pending_beside(conn, channel, chat_id, message_id, earlier=False)


async def _pending_beside(conn: Connection, channel: str, chat_id: str, message_id: int,
                          *, earlier: bool) -> bool:
    """Index `outbox_chat`."""
    async with conn.execute(
        "SELECT 1 FROM outbox WHERE channel = ? AND chat_id = ? AND status = 'pending'"
        + (" AND id < ? LIMIT 1" if earlier else " AND id > ? LIMIT 1"),
        (channel, chat_id, message_id),
    ) as cur:
        return await cur.fetchone() is not None


async def mark_sent(conn: Connection, message_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
        " last_error = NULL WHERE id = ?",
        (to_db(now), message_id),
    )


async def mark_retry(conn: Connection, message_id: int, next_attempt_at: datetime,
                     error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
        " WHERE id = ?",
        (to_db(next_attempt_at), error[:500], message_id),
    )


async def mark_failed(conn: Connection, message_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?"
        " WHERE id = ?",
        (error[:500], message_id),
    )


async def drop_reply_token(conn: Connection, message_id: int) -> None:
    await conn.execute("UPDATE outbox SET reply_token = NULL WHERE id = ?", (message_id,))


async def pending_by_chat(conn: Connection, channel: str) -> dict[str, int]:
    async with conn.execute(
        "SELECT chat_id, COUNT(*) FROM outbox WHERE status = 'pending' AND channel = ?"
        " GROUP BY chat_id", (channel,)
    ) as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def next_due_at(conn: Connection, channels: list[str], after: datetime
                      ) -> datetime | None:
    """When the next pending message falls due, later than `after`."""
    marks = ",".join("?" * len(channels))
    async with conn.execute(
        f"SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'"
        f" AND channel IN ({marks}) AND next_attempt_at > ?", (*channels, to_db(after))
    ) as cur:
        row = await cur.fetchone()
    return from_db(row[0]) if row and row[0] else None


async def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """How many messages wait to be sent, and since when the oldest."""
    async with conn.execute(
        "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'"
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]), from_db(row[1]) if row and row[1] else None


# Sent rows of an announcement are its delivery report (storage.reminders.broadcast_reports):
# they are kept with it.
_PRUNABLE_SENT = ("status = 'sent' AND sent_at < ?"
                  " AND (batch IS NULL OR batch NOT LIKE 'broadcast:%')")


async def prune_sent(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` sent messages sent before `before`, oldest first; returns how
    many. Pending and failed rows are never deleted. Runs in a worker thread: a batch
    deletes thousands of rows (index `outbox_sent`, migration 0008)."""
    rows = await conn.fetchall_in_thread(
        f"DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE {_PRUNABLE_SENT}"
        " ORDER BY sent_at LIMIT ?) RETURNING id", (to_db(before), limit))
    return len(rows)
