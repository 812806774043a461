"""Claims between instances that share one database: who is the leader, which instances
send the outbox, which planning run fires a schedule. (One person's stored updates need
no claim here: the handling transaction's claim of the inbox row keeps them in order,
storage/inbox.py.)

SQLite: one process owns the file (storage/instance_lock.py), so every claim is granted
at once, in memory, at no cost (`LocalClaims`): the single-process path is today's.

PostgreSQL (`PgClaims`): session-level advisory locks on a connection of their own, one
per instance. A lock dies with its session: when an instance is killed the server
releases its claims as soon as the socket closes, where a lease row waits for its expiry
(TCP keepalives, set short below, cover a host that vanished without closing it).

The claim connection can break (the server restarted, the network): every lock it held is
gone then. `generation` counts the connections: a holder compares it before each step and
stops when it changed (what it was doing stays stored, and is claimed again).

A schedule's run is claimed with a compare-and-set on its `next_run_at` in the planning
transaction (`claim_schedule_run`): of several instances planning the same due time, one
updates the row and the others find it changed (PostgreSQL re-reads a row another
transaction updated before it locks it), on either engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from storage.connection import Connection
from storage.timestamps import to_db

log = logging.getLogger(__name__)

LEADER_LOCKS = 0x636C6472  # "cldr": advisory lock class of the leader lease
SENDER_LOCKS = 0x63736E64  # "csnd": one per live outbox sender (storage.outbox.SharedOutbox)
OUTBOX_CHANNEL = "cercap_outbox"  # NOTIFY: a new outbox row (a hint; polling is the truth)
CHECK_TIMEOUT_SECONDS = 2.0
# A host that vanished without closing its sockets: the server drops its session (and so
# its claims) after idle + interval × count seconds without an answer.
KEEPALIVE = {"keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2",
             "keepalives_count": "3"}
SERVER_KEEPALIVE = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
                    "SET tcp_keepalives_count = 3")


class LocalClaims:
    """One process owns the database: every claim is this process's."""

    shared = False
    generation = 0
    sender_key = 0

    async def open(self) -> LocalClaims:
        return self

    async def close(self) -> None:
        return None

    async def try_leader(self) -> bool:
        return True

    async def alive(self) -> bool:
        return True

    async def notify(self, channel: str) -> None:
        return None


class PgClaims:
    """Advisory locks on this instance's claim connection (see the module's docstring)."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.generation = 0
        self.sender_key = 0  # this session's outbox sender lock (SENDER_LOCKS, key)
        self.sender = False  # whether this instance runs an outbox sender
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> PgClaims:
        await self._connect()
        return self

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, prepare_threshold=None,
            application_name=f"cercap-claims-{os.getpid()}", **KEEPALIVE)
        for statement in SERVER_KEEPALIVE:
            await conn.execute(statement)
        if self.sender:
            await self._take_sender_lock(conn)
        self._conn = conn
        self.generation += 1
        return conn

    async def _take_sender_lock(self, conn: Any) -> None:
        """A key of our own for this session: outbox rows leased under it are free for the
        others as soon as this session ends (a new connection gets a new key, so rows
        leased before a break are in doubt, never silently ours again)."""
        while True:
            key = secrets.randbelow(2**31 - 1) + 1
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                     (SENDER_LOCKS, key))
            row = await cur.fetchone()
            if row and row[0]:
                self.sender_key = key
                return

    async def become_sender(self) -> None:
        """This instance sends the outbox from now on: its lock is taken (and retaken on
        every new claim connection)."""
        self.sender = True
        async with self._lock:
            if self._conn is not None and not self._conn.closed:
                await self._take_sender_lock(self._conn)

    async def live_senders(self) -> tuple[int, bool]:
        """(how many outbox senders run now, this one included (their locks); whether the
        leader is an older version that sends alone: its session holds no sender lock)."""
        import psycopg

        async with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                conn = await self._connect()
            try:
                cur = await conn.execute(
                    "SELECT count(*) FILTER (WHERE l.classid = %s),"
                    " COALESCE(bool_or(l.classid = %s AND l.objid = 0 AND NOT EXISTS ("
                    "  SELECT 1 FROM pg_locks s WHERE s.pid = l.pid"
                    "  AND s.locktype = 'advisory' AND s.classid = %s AND s.granted)), false)"
                    " FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2"
                    " AND l.granted", (SENDER_LOCKS, LEADER_LOCKS, SENDER_LOCKS))
                row = await cur.fetchone()
            except psycopg.OperationalError:
                await conn.close()
                self._conn = None
                raise
        return (int(row[0]), bool(row[1])) if row else (0, False)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()  # every lock of this session is released
            self._conn = None

    async def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """One statement on the claim connection; a broken connection is replaced (its
        locks are gone: `generation` moves) and the error raised."""
        import psycopg

        async with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                conn = await self._connect()
            try:
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
            except psycopg.OperationalError:
                log.warning("claims: the claim connection broke; its claims are gone")
                await conn.close()
                self._conn = None
                raise
        return row[0] if row else None

    async def try_leader(self) -> bool:
        return bool(await self._scalar("SELECT pg_try_advisory_lock(%s, 0)", (LEADER_LOCKS,)))

    async def alive(self) -> bool:
        """Whether this session (and every lock it holds) is still there."""
        import psycopg

        generation = self.generation
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self._scalar("SELECT 1")
        except (TimeoutError, psycopg.Error, OSError):
            return False
        return self.generation == generation

    async def notify(self, channel: str) -> None:
        await self._scalar("SELECT pg_notify(%s, '')", (channel,))

    async def listen(self, channel: str) -> AsyncIterator[None]:
        """Yields at each notification on `channel`, on a connection of its own; ends when
        that connection breaks (the caller listens again and polls meanwhile)."""
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **KEEPALIVE)
        try:
            await conn.execute(f"LISTEN {channel}")
            async for _ in conn.notifies():
                yield None
        except psycopg.OperationalError as exc:
            log.warning("claims: LISTEN %s ended: %s", channel, exc)
        finally:
            await conn.close()


Claims = LocalClaims | PgClaims


def claims_for(target: object) -> Claims:
    """The claims a database target needs: PostgreSQL's for a server URL, none otherwise."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PgClaims(text)
    return LocalClaims()


async def claim_schedule_run(conn: Connection, kind: str, seen: datetime | None,
                             next_run_at: datetime, ran_at: datetime | None) -> bool:
    """Move a kind's next run from `seen` (what the planner read) to `next_run_at`; True
    when this transaction did (it plans the run), False when another did first."""
    cur = await conn.execute(
        "UPDATE schedules SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at)"
        " WHERE kind = ? AND " + ("next_run_at = ?" if seen else "next_run_at IS NULL"),
        (to_db(next_run_at), to_db(ran_at) if ran_at else None, kind,
         *((to_db(seen),) if seen else ())))
    return cur.rowcount == 1


async def claim_tambon_run(conn: Connection, tambon_code: str, kind: str,
                           seen: datetime | None, next_run_at: datetime,
                           ran_at: datetime | None) -> bool:
    """`claim_schedule_run` for a tambon's own time of a kind."""
    cur = await conn.execute(
        "UPDATE tambon_reminder_times SET next_run_at = ?,"
        " last_run_at = COALESCE(?, last_run_at) WHERE tambon_code = ? AND kind = ? AND "
        + ("next_run_at = ?" if seen else "next_run_at IS NULL"),
        (to_db(next_run_at), to_db(ran_at) if ran_at else None, tambon_code, kind,
         *((to_db(seen),) if seen else ())))
    return cur.rowcount == 1


def coalesced(send: Callable[[], Any]) -> Callable[[], None]:
    """A hint that many callers give at once, sent once per turn of the event loop."""
    pending = False
    tasks: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak ones)

    async def run() -> None:
        nonlocal pending
        pending = False
        try:
            await send()
        except Exception as exc:  # a hint: the receiver polls anyway
            log.warning("claims: hint not sent: %s", exc)

    def hint() -> None:
        nonlocal pending
        if not pending:
            pending = True
            task = asyncio.get_running_loop().create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return hint
