"""The outbox: every message the bot sends is written here in the handling
transaction, then delivered by the sender. Nothing is sent from inside a transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from storage.claims import SENDER_LOCKS
from storage.connection import Connection, Later, Row
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
    # Claimed from a sender whose lease ended without an outcome (it died, or its lease
    # lapsed): it may have been sent already (SharedOutbox; a LINE reply judges by it).
    in_doubt: bool = False
    # Leased to this instance's sender by its INSERT (queue_later's `lease`).
    lease: Lease | None = None


@dataclass(frozen=True)
class Lease:
    """The shared outbox (PostgreSQL, several instances): a reply's INSERT leases its row
    to this instance's sender, so that the sender may send it as the engine hands it over,
    without claiming it (SharedOutbox's docstring: a reply leased at its INSERT).
    `key` is the sender's lock key and `seconds` the lease, by the server's clock from the
    INSERT; `send_before` (the sender's monotonic clock, read before the INSERT went out)
    and `generation` (of its claim connection) are the sender's own checks."""

    key: int
    seconds: float
    send_before: float
    generation: int


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
    queued = await queue_later(conn, channel=channel, chat_id=chat_id, person_id=person_id,
                               priority=priority, payload=payload, now=now,
                               reply_token=reply_token, dedupe_key=dedupe_key)
    return await queued.message()


class Queued:
    """A message queued without waiting for the INSERT's answer (`queue_later`)."""

    def __init__(self, later: Later, message: OutboxMessage) -> None:
        self._later, self._message = later, message
        self._row: Any = None
        self._read = False

    async def _result(self) -> Any:
        if not self._read:
            self._row = await (await self._later.result()).fetchone()
            self._read = True
        return self._row

    async def message(self) -> OutboxMessage | None:
        """The message as `due` would read it back; None when `dedupe_key` was queued
        before."""
        row = await self._result()
        return replace(self._message, id=row[0]) if row is not None else None

    async def earlier_waiting(self) -> bool:
        """Whether, when it was queued, an earlier message still waited for its chat (told
        by the INSERT itself)."""
        row = await self._result()
        return bool(row[1]) if row is not None else True


async def queue_later(conn: Connection, *, channel: str, chat_id: str,
                      person_id: int | None, priority: int, payload: dict[str, Any],
                      now: datetime, reply_token: str | None = None,
                      dedupe_key: str | None = None, lease: Lease | None = None) -> Queued:
    """Queue one message, its INSERT sent with the transaction's next statement or its
    COMMIT (a round trip saved on a server engine: storage/engine_postgres.py); what it
    did is known from the `Queued` afterwards. `lease`: the shared outbox only
    (PostgreSQL), the row is leased to that sender from its INSERT on."""
    retry_key, moment = str(uuid.uuid4()), to_db(now)
    values: tuple[Any, ...] = (
        channel, chat_id, person_id, priority, json.dumps(payload, ensure_ascii=False),
        reply_token, retry_key, dedupe_key, moment, moment)
    if lease is not None:
        values += (lease.key, lease.seconds)
    later = await conn.execute_later(
        (_QUEUE_LEASED if lease is not None else _QUEUE) + _QUEUED_AFTER,
        (*values, channel, chat_id))
    return Queued(later, OutboxMessage(0, channel, chat_id, person_id, priority, payload,
                                       reply_token, retry_key, 0, from_db(moment),
                                       lease=lease))


_QUEUE = ("INSERT OR IGNORE INTO outbox (channel, chat_id, person_id, priority, payload,"
          " reply_token, retry_key, dedupe_key, next_attempt_at, created_at)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# The lease counts from the INSERT's own instant (clock_timestamp(), not the transaction's
# start): the sender's `send_before` was read before it, so it never outlasts the lease.
_QUEUE_LEASED = ("INSERT OR IGNORE INTO outbox (channel, chat_id, person_id, priority,"
                 " payload, reply_token, retry_key, dedupe_key, next_attempt_at, created_at,"
                 " leased_by, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                 " clock_timestamp() + make_interval(secs => ?))")
_QUEUED_AFTER = (
    " RETURNING id, EXISTS (SELECT 1 FROM outbox p"
    # The chat as values, not as the new row's columns: SQLite then uses the index
    # (`outbox_chat`) instead of scanning the table (1.2 ms at 20,000 rows, 5 µs).
    " WHERE p.channel = ? AND p.chat_id = ? AND p.status = 'pending' AND p.id < outbox.id)")


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
    due = to_db(not_before or now)
    queued = await conn.executemany(
        "INSERT OR IGNORE INTO outbox (channel, chat_id, person_id, priority, payload,"
        " retry_key, dedupe_key, next_attempt_at, created_at, batch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(m.channel, m.chat_id, m.person_id, priority, m.payload_json, str(uuid.uuid4()),
          m.dedupe_key, due, to_db(now), batch) for m in messages],
    )
    return max(queued.rowcount, 0)  # the rows the INSERTs added: a skipped one adds none


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


async def pending_after(conn: Connection, channel: str, chat_id: str, message_id: int
                        ) -> bool:
    """Whether a later message waits to be sent to this chat (index `outbox_chat`). (An
    earlier one: the INSERT of `queue_later` tells.)"""
    async with conn.execute(
        "SELECT 1 FROM outbox WHERE channel = ? AND chat_id = ? AND status = 'pending'"
        " AND id > ? LIMIT 1", (channel, chat_id, message_id),
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


# ---- the shared outbox: several instances on one PostgreSQL --------------------------------

LEASE_SECONDS = 30.0  # a claimed row's lease; a send (10 s timeout) fits with room to spare
CLAIM_SCAN = 200  # due rows looked at per claim, to pick the chats


@dataclass(frozen=True)
class Claimed:
    """What one claim took: rows by chat (each chat's in sending order), when each chat was
    last sent to (seconds ago, by the sender clocks; None: never or long ago), and whether
    a chat was left out because another claim held part of it at that instant."""

    rows: dict[str, list[OutboxMessage]]
    last_sent_ago: dict[str, float]
    contended: bool


class SharedOutbox:
    """The outbox shared by several instances on one PostgreSQL: every instance sends, each
    row claimed first. The locking story, in full:

    Who may send a row. Each sender holds a session advisory lock (class
    storage.claims.SENDER_LOCKS, its own random key) on its claim connection while it runs;
    `leased_by` is that key, `lease_until` the lease's end by the server's clock. A row is
    *free* for sender S when nobody leases it (NULL), S leases it, the lease ended, or the
    leasing sender is dead: its lock is not in pg_locks (the server drops a killed
    process's session, and so its lock, as soon as its socket closes; a host that vanished,
    after the TCP keepalives, ~11 s). So a killed instance's rows are free again within
    about a second, and `lease_until` (LEASE_SECONDS) is the backstop for a sender that is
    alive but stuck: a sender never starts a send whose lease ends within
    outbox_sender.LEASE_MARGIN_SECONDS by its own monotonic clock (counted from before its
    claim went out), nor after its claim connection broke (its lock is gone then:
    `claims.generation` moved; a send already under way then may be doubled, as by a kill).

    Claims are per chat: a sender takes a chat's due rows only when it holds *every*
    pending row of that chat, so one chat is served by one sender at a time, in order.
    One statement (`claim`, autocommit: its own transaction):
    1. `due`: the first CLAIM_SCAN due rows that look free, most urgent then oldest first;
       `chats`: their chats, at most `chats` of them;
    2. `free`: every pending row of those chats that is free, locked FOR UPDATE SKIP LOCKED
       (a row another claim or an outcome being recorded has locked right now is skipped,
       not waited for). READ COMMITTED re-reads a row that changed after the statement's
       snapshot before locking it and checks it again: a row another sender leased (or
       sent) meanwhile is not free, whatever the snapshot said;
    3. `whole`: the chats whose pending rows (as the snapshot counts them) are all in
       `free`. A chat of which any pending row is leased by a live sender, or was skipped,
       or changed under us, is left for later (`contended`: the sender tries again soon).
       Rows queued after the snapshot are not counted and not taken: they are free, and
       no other sender can take them either while we lease rows of that chat (step 3
       fails for it);
    4. of the whole chats, the rows due now that no earlier, as urgent, row waiting for a
       retry holds back (the order rule of `due`, read from `free`, the latest versions),
       at most `page` per chat, get `leased_by` = us and a fresh `lease_until`.
    RETURNING tells, per row, whether it is `in_doubt` (it was leased by another sender,
    which ended without recording an outcome: it may have been sent; a row with a reply
    token only when it is the token's first row, the one whose batch the reply carried:
    a later batch of the same token went by push, and its retry key settles it), and when
    its chat was last sent to (per-chat pacing across senders, bot/pacing.py).

    Why two senders can never interleave one chat: to send any row of chat C a sender
    must have leased it in a claim that saw all of C's pending rows free and locked. Two
    concurrent claims of C lock C's rows; each skips what the other holds, so at most one
    of them (usually neither: both try again soon) finds C whole. After a claim commits,
    C's leased rows are not free for anyone else until the holder records each outcome
    (which clears its lease) or releases what it will not send now (`release`), or dies.
    Outcomes are recorded one by one as each response arrives (`record`, one short
    autocommit statement), so the window in which a sender's death leaves a sent row
    pending is one round trip per send in flight (Telegram then sends it again: it has no
    idempotency key; a LINE push carries X-Line-Retry-Key; a LINE reply decides by
    `in_doubt`, bot/line_channel.py).

    A reply leased at its INSERT (`queue_later`'s `lease`, the engine's replies to the
    person it answers): the row is born leased to this instance's sender, so when the
    INSERT found nothing earlier pending for its chat (ORDER_LOCK makes that exact: the
    INSERT runs after every earlier row of the chat committed) the chat's every pending row
    is this sender's at the COMMIT, as a claim that found the chat whole would have left it:
    the engine hands the rows over in memory and the sender sends them without a claim (a
    statement and a round trip less a reply). Another sender finds the chat not free (step 3)
    until the outcome is recorded, or the lease ends: the row is then in doubt for whoever
    claims it (it may not have been tried at all; a LINE reply whose token LINE takes was
    not sent, one it refuses was). Rows the engine could not hand over (something earlier
    waited) are claimed as usual: our own lease counts as free for us.

    Everything here runs on a connection of its own (autocommit), not the writer: claims
    and outcomes never wait behind a handling transaction. SQLite (one process) never
    gets here: its sender reads `due` and records as before (bot/outbox_sender.py).
    """

    def __init__(self, url: str, sender_key: Callable[[], int]) -> None:
        self.url = url
        self.sender_key = sender_key  # the key of our lock now (a new one per connection)
        self._conn: Any = None
        # One statement at a time on the connection (its wire takes no second one while
        # a sync runs): the claims and the records of several chats' tasks take turns.
        self._turn = asyncio.Lock()

    async def open(self) -> SharedOutbox:
        await self._connected()
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connected(self) -> Any:
        from storage.engine_postgres import PgConnection

        conn = self._conn
        if conn is None or conn.broken:
            # The claim is planned once and kept (a generic plan: its values do not change
            # what plan is best, and planning it costs more than running it): POOL_PLANS.
            self._conn = conn = await PgConnection.open(self.url)
            conn.join_pool()  # its statements on libpq directly, as the pool's are
        return conn

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[Row]:
        async with self._turn:
            conn = await self._connected()
            return await conn.execute_fetchall(sql, params)

    async def _run(self, sql: str, params: tuple[Any, ...]) -> None:
        async with self._turn:
            conn = await self._connected()
            await conn.execute(sql, params)

    async def claim(self, channel: str, now: datetime, *, chats: int, page: int,
                    chat_ids: list[str] | None = None, most_priority: int = BULK
                    ) -> Claimed:
        """Lease the due rows of up to `chats` whole chats (see the class's docstring)."""
        me = self.sender_key()
        rows = await self._rows(_CLAIM.format(
            chat_filter=" AND o.chat_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"
            if chat_ids is not None else ""),
            {"channel": channel, "now": to_db(now), "most_priority": most_priority,
             "me": me, "scan": CLAIM_SCAN, "chats": chats, "page": page,
             "lease": LEASE_SECONDS,
             **({"ids": json.dumps(chat_ids)} if chat_ids is not None else {})})
        claimed: dict[str, list[OutboxMessage]] = {}
        ago: dict[str, float] = {}
        whole, wanted = (int(rows[0]["whole"]), int(rows[0]["wanted"])) if rows else (0, 0)
        taken = [r for r in rows if r["id"] is not None]
        for r in sorted(taken, key=lambda r: (r["priority"], r["id"])):
            message = OutboxMessage(r["id"], r["channel"], r["chat_id"], r["person_id"],
                                    r["priority"], json.loads(r["payload"]), r["reply_token"],
                                    r["retry_key"], r["attempts"], from_db(r["created_at"]),
                                    r["batch"], bool(r["in_doubt"]))
            claimed.setdefault(message.chat_id, []).append(message)
            if r["last_sent_at"] is not None:
                ago[message.chat_id] = (now - from_db(r["last_sent_at"])).total_seconds()
        return Claimed(claimed, ago, contended=whole < wanted)

    async def record(self, message_ids: list[int], *, status: str | None,
                     error: str | None, retry_at: datetime | None, now: datetime) -> None:
        """One outcome, at once: sent (`status` 'sent'), failed ('failed'), or tried again
        at `retry_at` (`status` None); the lease ends with it."""
        marks = ",".join("?" * len(message_ids))
        if status == "sent":
            await self._run(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                f" last_error = NULL, leased_by = NULL, lease_until = NULL WHERE id IN ({marks})",
                (to_db(now), *message_ids))
        elif status == "failed":
            await self._run(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
                f" leased_by = NULL, lease_until = NULL WHERE id IN ({marks})",
                ((error or "")[:500], *message_ids))
        else:
            await self._run(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
                f" leased_by = NULL, lease_until = NULL WHERE id IN ({marks})",
                (to_db(retry_at or now), (error or "")[:500], *message_ids))

    async def release(self, message_ids: list[int]) -> None:
        """Give back rows claimed and not sent (their pace, a retry before them): any
        sender may take their chat now. Rows another sender leases meanwhile stay its."""
        if not message_ids:
            return
        marks = ",".join("?" * len(message_ids))
        await self._run(
            "UPDATE outbox SET leased_by = NULL, lease_until = NULL"
            f" WHERE id IN ({marks}) AND leased_by = ?", (*message_ids, self.sender_key()))


# A row that looks free to the sender :me (SharedOutbox's docstring); `live` are the keys
# of the senders whose session holds their lock.
_FREE = ("(o.leased_by IS NULL OR o.leased_by = :me OR o.lease_until < now()"
         " OR o.leased_by NOT IN (SELECT sender FROM live))")

_CLAIM = (
    "WITH live AS MATERIALIZED ("
    " SELECT objid::bigint AS sender FROM pg_locks WHERE locktype = 'advisory'"
    f" AND classid = {SENDER_LOCKS} AND objsubid = 2 AND granted),"
    " due AS ("
    " SELECT o.chat_id, o.priority, o.id FROM outbox o WHERE o.status = 'pending'"
    " AND o.channel = :channel AND o.next_attempt_at <= :now"
    " AND o.priority <= :most_priority{chat_filter} AND " + _FREE +
    " ORDER BY o.priority, o.id LIMIT :scan),"
    " chats AS (SELECT chat_id FROM due GROUP BY chat_id"
    " ORDER BY min(priority), min(id) LIMIT :chats),"
    " free AS ("
    " SELECT o.id, o.chat_id, o.priority, o.next_attempt_at, o.leased_by FROM outbox o"
    " WHERE o.status = 'pending' AND o.channel = :channel"
    " AND o.chat_id IN (SELECT chat_id FROM chats) AND " + _FREE +
    " ORDER BY o.id FOR UPDATE OF o SKIP LOCKED),"
    " whole AS ("
    " SELECT c.chat_id FROM chats c"
    " WHERE (SELECT count(*) FROM free f WHERE f.chat_id = c.chat_id)"
    " = (SELECT count(*) FROM outbox p WHERE p.channel = :channel"
    " AND p.chat_id = c.chat_id AND p.status = 'pending')),"
    " taken AS ("
    " SELECT f.id, f.leased_by, row_number() OVER (PARTITION BY f.chat_id"
    " ORDER BY f.priority, f.id) AS n FROM free f"
    " WHERE f.chat_id IN (SELECT chat_id FROM whole) AND f.next_attempt_at <= :now"
    " AND f.priority <= :most_priority"
    " AND NOT EXISTS (SELECT 1 FROM free e WHERE e.chat_id = f.chat_id AND e.id < f.id"
    " AND e.priority <= f.priority AND e.next_attempt_at > :now)),"
    " taken_rows AS ("
    " UPDATE outbox u SET leased_by = :me,"
    " lease_until = now() + make_interval(secs => :lease)"
    " FROM taken t WHERE u.id = t.id AND t.n <= :page"
    " RETURNING u.id, u.channel, u.chat_id, u.person_id, u.priority, u.payload,"
    " u.reply_token, u.retry_key, u.attempts, u.created_at, u.batch,"
    " (t.leased_by IS NOT NULL AND t.leased_by <> :me AND (u.reply_token IS NULL"
    " OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.channel = u.channel"
    " AND e.chat_id = u.chat_id AND e.reply_token = u.reply_token AND e.id < u.id)))"
    " AS in_doubt,"
    " (SELECT s.sent_at FROM outbox s WHERE s.channel = u.channel"
    " AND s.chat_id = u.chat_id AND s.status = 'sent' ORDER BY s.id DESC LIMIT 1)"
    " AS last_sent_at)"
    # One row at least, so that a claim that took nothing still tells why.
    # (Columns named: a `r.*` would never be prepared, engine_postgres.)
    " SELECT r.id, r.channel, r.chat_id, r.person_id, r.priority, r.payload, r.reply_token,"
    " r.retry_key, r.attempts, r.created_at, r.batch, r.in_doubt, r.last_sent_at,"
    " (SELECT count(*) FROM whole) AS whole, (SELECT count(*) FROM chats) AS wanted"
    " FROM (SELECT 1) AS one LEFT JOIN taken_rows r ON TRUE")
