"""The database: SQLite (a file path, or `sqlite:///path`) or PostgreSQL (a
`postgresql://` URL, storage/engine_postgres.py), chosen by CERCAP_DB. `Database(target)`
gives the engine the target names; both offer the same methods and connections.

SQLite: one writer connection behind a lock, WAL, foreign keys on. (PostgreSQL: a pool,
transactions at once: storage/engine_postgres.py's PostgresDatabase says what holds.)

SQLite has one writer. Every write goes through `Database.transaction()`, which
holds an asyncio lock for the whole BEGIN IMMEDIATE … COMMIT, so two coroutines
never interleave transactions on the same connection. Keep transactions short and
never await the network inside one: the writer's statements run on the event loop's
thread (`storage.connection`), and long reads belong on `Database.reader()`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.connection import AnyConnection, Connection, Row
from storage.migrations import migrate

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("data") / "cercap.db"
BUSY_TIMEOUT_MS = 5000
# The writer blocks the event loop while SQLite waits for a lock another process holds
# (a restore, a second bot by mistake), so it waits briefly and then yields to the loop.
INLINE_BUSY_TIMEOUT_MS = 20
# The writer does not checkpoint the WAL itself (that copy and its fsync would stall the
# event loop for milliseconds): a separate connection does, in aiosqlite's thread.
CHECKPOINT_EVERY_COMMITS = 100
TRANSACTIONS_PER_COMMIT = 16  # at most, in one group commit
# Two commits within this mean a queue: then transactions are grouped. A lone transaction
# (people pausing between messages) commits at once, without the wait; so does the one that
# handles an update just stored (one commit before it is not a queue yet).
GROUP_WINDOW_SECONDS = 0.002


def db_target(text: str | Path) -> Path | str:
    """A CERCAP_DB value as a database target: a URL stays a string (`Path` would fold its
    `//`), `sqlite:///path` and a plain path become a Path."""
    value = str(text)
    if value.startswith(("postgresql://", "postgres://")):
        return value
    if value.startswith("sqlite:///"):
        return Path(value[len("sqlite:///") - 1:] if value.startswith("sqlite:////")
                    else value[len("sqlite:///"):])
    return Path(value)


def db_path_from_env() -> Path:
    """CERCAP_DB (or data/cercap.db). A PostgreSQL URL comes back as a str: callers pass it
    through to `Database` without looking inside."""
    return db_target(os.environ.get("CERCAP_DB") or DEFAULT_DB_PATH)  # type: ignore[return-value]


def database_errors() -> tuple[type[BaseException], ...]:
    """What a database that cannot be used now raises, on either engine: for `except`
    clauses above storage/ (`except database_errors() as exc:`). psycopg is looked for only
    once imported (a SQLite bot never imports it)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error,) if psycopg is None else (sqlite3.Error, psycopg.OperationalError)


def is_server_database(target: object) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


async def _configure(conn: AnyConnection, busy_timeout_ms: int) -> None:
    conn.row_factory = Row
    await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = NORMAL")


async def _begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE, waiting (without holding up the event loop) up to BUSY_TIMEOUT_MS
    for another process's write lock."""
    waited = 0.0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or waited * 1000 >= BUSY_TIMEOUT_MS:
                raise
        log.warning("database locked by another process: waiting")
        await asyncio.sleep(0.05)
        waited += 0.05 + INLINE_BUSY_TIMEOUT_MS / 1000


class Database:
    def __new__(cls, path: Path | str) -> Database:
        if cls is Database and is_server_database(path):
            from storage.engine_postgres import PostgresDatabase

            return PostgresDatabase(str(path))  # type: ignore[return-value]
        return super().__new__(cls)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._commits = 0
        self._lock = asyncio.Lock()
        self._commit_soon = False  # a COMMIT of the open transactions is scheduled
        self.group_window = GROUP_WINDOW_SECONDS
        # time.monotonic() of the two last COMMITs, the older first
        self._last_commits: deque[float] = deque((-math.inf, -math.inf), maxlen=2)
        # Transactions done in the open SQLite transaction, waiting for its COMMIT.
        self._open: list[asyncio.Future[None]] | None = None

    async def open(self) -> Database:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = Connection.open(str(self.path))
        await _configure(self._conn, INLINE_BUSY_TIMEOUT_MS)
        await self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        async with self._lock:
            await migrate(self._conn)
        return self

    async def warm(self) -> None:
        """Ready for a backlog: nothing to open on SQLite (one connection, opened by
        `open`); PostgreSQL opens its whole pool."""

    async def close(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
            self._checkpointing = None
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction: all of it commits or none of it does, and it returns once
        it is committed.

        Under load (two commits within `group_window`), transactions that end in the
        same turn of the event loop share one COMMIT (a group commit: a commit writes every
        page it changed to the WAL, and transactions of different people change the same
        pages); otherwise a transaction commits at once. Each runs in its own savepoint inside one
        SQLite transaction, so a failing one rolls back only itself; the COMMIT runs once the
        loop has run everything else that was ready (or at the `TRANSACTIONS_PER_COMMIT`th),
        and nobody returns before it. A read commits what is open first, so nothing outside
        a transaction sees uncommitted rows.
        """
        await self._lock.acquire()
        committed: asyncio.Future[None] | None = None
        try:
            conn = self.conn
            # The first of a group is alone in the SQLite transaction while it runs (the
            # others join after it, the lock held meanwhile): it needs no savepoint.
            first = self._open is None
            if first:
                await _begin(conn)
                self._open = []
            else:
                conn.execute("SAVEPOINT one")
            try:
                yield conn
            except BaseException:
                if first:
                    conn.execute("ROLLBACK")
                    self._open = None
                else:
                    conn.execute("ROLLBACK TO one")
                    conn.execute("RELEASE one")
                raise
            if not first:
                conn.execute("RELEASE one")
            committed = asyncio.get_running_loop().create_future()
            self._open.append(committed)
        finally:
            if self._open is not None:
                queue = time.monotonic() - self._last_commits[0] < self.group_window
                if not queue or len(self._open) >= TRANSACTIONS_PER_COMMIT:
                    self._commit_open()
                elif not self._commit_soon:
                    self._commit_soon = True
                    asyncio.get_running_loop().call_soon(self._commit_if_idle)
            self._lock.release()
        if committed is not None:
            await committed

    def _commit_open(self) -> None:
        """COMMIT the open SQLite transaction; tell each transaction in it how it went."""
        waiting, self._open = self._open or [], None
        self._last_commits.append(time.monotonic())
        try:
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for future in waiting:
            if not future.done():
                future.set_result(None)
        self._committed()

    def _commit_if_idle(self) -> None:
        """The COMMIT of a group: now, unless a transaction holds the lock (it will call
        for the COMMIT again when it ends)."""
        self._commit_soon = False
        if self._open is not None and not self._lock.locked():
            self._commit_open()

    def _committed(self) -> None:
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY_COMMITS or str(self.path) == ":memory:":
            return
        if self._checkpointing is None or self._checkpointing.done():
            self._commits = 0
            self._checkpointing = asyncio.create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        """Copy committed pages from the WAL into the database file (PASSIVE: it never
        waits for, or blocks, the writer or the readers)."""
        try:
            if self._checkpointer is None:
                self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed (tried again later): %s", exc)

    async def writable(self, timeout: float = 1.0) -> bool:
        """Whether a write transaction can start now (an empty one: nothing is written)."""
        try:
            async with asyncio.timeout(timeout), self.transaction():
                pass
        except (TimeoutError, sqlite3.Error) as exc:
            log.warning("database not writable: %s", exc)
            return False
        return True

    async def compact(self) -> bool:
        """Rewrite the file without the pages deleted rows left behind and empty the WAL
        (after an erasure: the erased bytes are nowhere in the files). False when a reader
        of another connection kept the WAL from being emptied (it is at the next checkpoint)."""
        async with self._lock:
            if self._open is not None:
                self._commit_open()
            conn = self.conn
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
                row = await cur.fetchone()
        return row is not None and int(row[0]) == 0

    async def reader(self) -> aiosqlite.Connection:
        """A second, read-only connection for long reads (summaries, exports): with WAL it
        sees the last committed state and never waits for, or holds up, the writer."""
        if self._reader is None:
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(self._reader, BUSY_TIMEOUT_MS)
            await self._reader.execute("PRAGMA query_only = ON")
        return self._reader

    async def data_version(self) -> int:
        """SQLite's `PRAGMA data_version` on the reader: it changes whenever another
        connection (the writer, another process) commits."""
        async with (await self.reader()).execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A consistent read. Shares the writer's lock, so it never sees half a transaction."""
        async with self._lock:
            if self._open is not None:
                self._commit_open()
            yield self.conn


async def data_version(db: Database) -> tuple[int, int]:
    """A value every committed write advances (the web site's page cache is kept under it):
    SQLite's `PRAGMA data_version` on the reader connection, which changes whenever another
    connection (the bot's writer, another process) commits, paired with that connection's
    identity (the counter is per connection). On PostgreSQL the server's next transaction
    id, which every committed write advances (storage/engine_postgres.py)."""
    reader = await db.reader()
    return id(reader), await db.data_version()
